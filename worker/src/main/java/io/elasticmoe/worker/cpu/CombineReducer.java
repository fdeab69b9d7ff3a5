package io.elasticmoe.worker.cpu;

import io.elasticmoe.worker.runtime.DispatchLayout;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The combine reduction for one token: {@code out = bf16(Σ_i w_i · row_i)} in fp32, rows read in
 * selection order from the receive buffer (so the sum order, and the result, are those of the CUDA
 * kernel that adds the top-k terms in k order).
 *
 * <p>Vector API over 32-bit words of two bf16 channels, read in place from the buffer: a word's low half is
 * channel 2i and its high half channel 2i+1 (little-endian), so {@code word << 16} and
 * {@code word & 0xFFFF0000} are the float bits of the even and odd channels, and the rounded sums go back
 * into one word with a shift and a mask, without lane shuffles. For each slice of the row every row's
 * words are added into two registers, then rounded and stored: the rows are read once and nothing else
 * is (copying each row out first, or keeping the sums in an array, took twice as long). Products and sums
 * stay separate multiplies and adds: an fma rounds once and would not give the kernel's bits. Holds no
 * state but the buffer view: one reducer may serve several threads.
 */
public final class CombineReducer {

  private static final VectorSpecies<Integer> WORDS = IntVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
  private static final int CANONICAL_NAN = 0x7FC0;
  private static final int HIGH_HALF = 0xFFFF0000;

  private final int hidden;
  private final MemorySegment rows;

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
    this.hidden = hidden;
    this.rows = MemorySegment.ofBuffer(rows);
  }

  /**
   * Rows start at byte offsets {@code rowOffsets[0..numRows)}; writes {@code out[outOffset..+hidden)}. With
   * no rows the token is 0.
   */
  public void reduceToken(int[] rowOffsets, float[] weights, int numRows, short[] out, int outOffset) {
    // Through a local: read through the field the loop took 1.7× as long (measured; C2 apparently reloads it
    // after the stores into out).
    MemorySegment rows = this.rows;
    for (int w = 0; w < hidden / 2; w += WORDS.length()) {
      // 0 + w·x (not w·x) for the first term too: a -0 product sums to +0, as in the kernel.
      FloatVector evenSum = FloatVector.zero(FLOATS);
      FloatVector oddSum = FloatVector.zero(FLOATS);
      for (int i = 0; i < numRows; i++) {
        IntVector words =
            IntVector.fromMemorySegment(WORDS, rows, rowOffsets[i] + 4L * w, ByteOrder.LITTLE_ENDIAN);
        FloatVector weight = FloatVector.broadcast(FLOATS, weights[i]);
        evenSum = evenSum.add(words.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().mul(weight));
        oddSum = oddSum.add(words.and(HIGH_HALF).reinterpretAsFloats().mul(weight));
      }
      // Both sums are rounded in one loop body, not a helper: a vector handed to a method that C2 declined to
      // inline (it stops past a node budget) is boxed on the heap, which ran this loop 70× slower (measured).
      IntVector channelPairs = IntVector.zero(WORDS);
      for (int part = 0; part < 2; part++) {
        // Bf16.fromFloat on float bits: round half to even, NaN to the canonical quiet NaN with its sign.
        IntVector bits = (part == 0 ? evenSum : oddSum).reinterpretAsInts();
        IntVector rounded = bits.add(bits.lanewise(VectorOperators.LSHR, 16).and(1)).add(0x7FFF)
            .blend(bits.and(0x80000000).or(CANONICAL_NAN << 16),
                bits.and(0x7FFFFFFF).compare(VectorOperators.GT, 0x7F800000));
        // The even channel goes to a word's low half, the odd one to its high half.
        channelPairs =
            channelPairs.or(rounded.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.LSHL, 16 * part));
      }
      // Lanes reinterpret little-endian on every host: a word's low half becomes channel 2i.
      channelPairs.reinterpretAsShorts().intoArray(out, outOffset + 2 * w);
    }
  }
}
