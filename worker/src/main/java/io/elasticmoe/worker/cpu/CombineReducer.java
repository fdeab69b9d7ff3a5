package io.elasticmoe.worker.cpu;

import io.elasticmoe.worker.runtime.DispatchLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The combine reduction for one token: {@code out = bf16(Σ_i w_i · row_i)} in fp32, rows read in
 * selection order from the receive buffer (so the sum order, and the result, are those of the CUDA
 * kernel that adds the top-k terms in k order).
 *
 * <p>Vector API over 32-bit words of two bf16 channels: a word's low half is channel 2i and its high half
 * channel 2i+1 (little-endian), so {@code word << 16} and {@code word & 0xFFFF0000} are the float bits of
 * the even and odd channels, and the rounded sums go back into one word with a shift and a mask, without
 * lane shuffles. Each row is bulk-copied into an L1-sized scratch first: the vector loads of
 * {@code --release 21} take arrays only ({@code MemorySegment} is a preview API there). Products and sums
 * stay separate multiplies and adds: an fma rounds once and would not give the kernel's bits. Not
 * thread-safe: one reducer per thread (scratch arrays).
 */
public final class CombineReducer {

  private static final VectorSpecies<Integer> WORDS = IntVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
  private static final int CANONICAL_NAN = 0x7FC0;
  private static final int HIGH_HALF = 0xFFFF0000;

  private final int half;
  private final IntBuffer rows;
  private final int[] words;
  private final float[] evenSum;
  private final float[] oddSum;

  /**
   * Reduces rows of {@code hidden} bf16 channels held little-endian in {@code rows}. {@code hidden} is a
   * multiple of 128, as in every layout: a whole number of vectors for any vector size up to 2048 bits.
   */
  public CombineReducer(int hidden, ByteBuffer rows) {
    if (hidden < DispatchLayout.CHANNELS_PER_SCALE || hidden % DispatchLayout.CHANNELS_PER_SCALE != 0) {
      throw new IllegalArgumentException("hidden is " + hidden + "; the reduction needs a positive multiple of "
          + DispatchLayout.CHANNELS_PER_SCALE);
    }
    if (rows.order() != ByteOrder.LITTLE_ENDIAN) {
      throw new IllegalArgumentException("rows are read little-endian, as the buffer layout stores them");
    }
    this.half = hidden / 2;
    this.rows = rows.asIntBuffer();
    this.words = new int[half];
    this.evenSum = new float[half];
    this.oddSum = new float[half];
  }

  /**
   * Rows start at byte offsets {@code rowOffsets[0..numRows)} (multiples of 4: rows of the layout are
   * 128-aligned and its messages a multiple of 4 bytes); writes {@code out[outOffset..+hidden)}. With no
   * rows the token is 0.
   */
  public void reduceToken(int[] rowOffsets, float[] weights, int numRows, short[] out, int outOffset) {
    for (int i = 0; i < numRows; i++) {
      if (rowOffsets[i] % 4 != 0) {
        throw new IllegalArgumentException("row offset " + rowOffsets[i] + " is not a multiple of 4");
      }
      rows.get(rowOffsets[i] / 4, words, 0, half);
      FloatVector weight = FloatVector.broadcast(FLOATS, weights[i]);
      // 0 + w·x (not w·x) for the first term too: a -0 product sums to +0, as in the kernel.
      boolean first = i == 0;
      for (int w = 0; w < half; w += WORDS.length()) {
        IntVector pair = IntVector.fromArray(WORDS, words, w);
        FloatVector even = pair.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(weight);
        FloatVector odd = pair.and(HIGH_HALF).reinterpretAsFloats().mul(weight);
        FloatVector evenBefore = first ? FloatVector.zero(FLOATS) : FloatVector.fromArray(FLOATS, evenSum, w);
        FloatVector oddBefore = first ? FloatVector.zero(FLOATS) : FloatVector.fromArray(FLOATS, oddSum, w);
        evenBefore.add(even).intoArray(evenSum, w);
        oddBefore.add(odd).intoArray(oddSum, w);
      }
    }
    for (int w = 0; w < half; w += WORDS.length()) {
      IntVector even = numRows == 0 ? IntVector.zero(WORDS)
          : roundToBf16(FloatVector.fromArray(FLOATS, evenSum, w).reinterpretAsInts()).lanewise(VectorOperators.LSHR, 16);
      IntVector odd = numRows == 0 ? IntVector.zero(WORDS)
          : roundToBf16(FloatVector.fromArray(FLOATS, oddSum, w).reinterpretAsInts()).and(HIGH_HALF);
      // Lanes reinterpret little-endian on every host: a word's low half becomes channel 2i.
      odd.or(even).reinterpretAsShorts().intoArray(out, outOffset + 2 * w);
    }
  }

  /**
   * {@code Bf16.fromFloat} on float bits, the result in the high half: round half to even, NaN to the
   * canonical quiet NaN with its sign.
   */
  private static IntVector roundToBf16(IntVector bits) {
    VectorMask<Integer> nan = bits.and(0x7FFFFFFF).compare(VectorOperators.GT, 0x7F800000);
    IntVector rounded = bits.add(bits.lanewise(VectorOperators.LSHR, 16).and(1)).add(0x7FFF);
    IntVector canonical = bits.and(0x80000000).or(CANONICAL_NAN << 16);
    return rounded.blend(canonical, nan);
  }
}
