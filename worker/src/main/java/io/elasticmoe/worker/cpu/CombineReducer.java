package io.elasticmoe.worker.cpu;

import io.elasticmoe.worker.runtime.Bf16;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;

/**
 * The combine reduction for one token: {@code out = bf16(Σ_i w_i · row_i)} in fp32, rows read in
 * selection order from the receive buffer (so the sum order, and the result, are those of the CUDA
 * kernel that adds the top-k terms in k order).
 *
 * <p>Shaped for C2's auto-vectorisation, which does not vectorise the int↔float reinterpretation a bf16
 * conversion needs ({@code Float.intBitsToFloat} per element ran at scalar speed, measured): a row is read
 * as 32-bit words of two channels, split into the float bits of its even and odd channels with integer
 * shifts and masks, and turned into floats by bulk copies through a small direct scratch buffer (written
 * as ints, read as floats). Every loop is then a plain int or float loop. Not thread-safe: one reducer per
 * thread (scratch arrays).
 */
public final class CombineReducer {

  private static final int CANONICAL_NAN = 0x7FC0;

  private final int half;
  private final IntBuffer rows;
  private final int[] words;
  private final int[] evenBits;
  private final int[] oddBits;
  private final float[] even;
  private final float[] odd;
  private final float[] evenSum;
  private final float[] oddSum;
  private final IntBuffer scratchInts;
  private final FloatBuffer scratchFloats;
  private final ShortBuffer scratchShorts;

  /**
   * Reduces rows of {@code hidden} bf16 channels (even: every layout's is a multiple of 128) held
   * little-endian in {@code rows}.
   */
  public CombineReducer(int hidden, ByteBuffer rows) {
    if (hidden < 2 || hidden % 2 != 0) {
      throw new IllegalArgumentException("hidden is " + hidden + "; the reduction needs a positive even size");
    }
    if (rows.order() != ByteOrder.LITTLE_ENDIAN) {
      throw new IllegalArgumentException("rows are read little-endian, as the buffer layout stores them");
    }
    this.half = hidden / 2;
    this.rows = rows.asIntBuffer();
    this.words = new int[half];
    this.evenBits = new int[half];
    this.oddBits = new int[half];
    this.even = new float[half];
    this.odd = new float[half];
    this.evenSum = new float[half];
    this.oddSum = new float[half];
    // Little-endian like the rows, so a word's low half is the even channel on any host (and the views
    // are the native, copying kind on the hosts we run on).
    ByteBuffer scratch = ByteBuffer.allocateDirect(8 * half).order(ByteOrder.LITTLE_ENDIAN);
    this.scratchInts = scratch.asIntBuffer();
    this.scratchFloats = scratch.asFloatBuffer();
    this.scratchShorts = scratch.asShortBuffer();
  }

  /**
   * Rows start at byte offsets {@code rowOffsets[0..numRows)} (multiples of 4: rows of the layout are
   * 128-aligned and its messages a multiple of 4 bytes); writes {@code out[outOffset..+hidden)}. With no
   * rows the token is 0.
   */
  public void reduceToken(int[] rowOffsets, float[] weights, int numRows, short[] out, int outOffset) {
    // 0 + w·x (not w·x) for the first term too: a -0 product sums to +0, as in the kernel.
    Arrays.fill(evenSum, 0f);
    Arrays.fill(oddSum, 0f);
    for (int i = 0; i < numRows; i++) {
      if (rowOffsets[i] % 4 != 0) {
        throw new IllegalArgumentException("row offset " + rowOffsets[i] + " is not a multiple of 4");
      }
      rows.get(rowOffsets[i] / 4, words, 0, half);
      Bf16.splitChannelPairs(words, evenBits, oddBits, half);
      scratchInts.put(0, evenBits).put(half, oddBits);
      scratchFloats.get(0, even).get(half, odd);
      accumulate(evenSum, even, weights[i], half);
      accumulate(oddSum, odd, weights[i], half);
    }
    scratchFloats.put(0, evenSum).put(half, oddSum);
    scratchInts.get(0, evenBits).get(half, oddBits);
    roundToBf16(evenBits, half);
    roundToBf16(oddBits, half);
    joinChannels(evenBits, oddBits, words, half);
    scratchInts.put(0, words);
    scratchShorts.get(0, out, outOffset, 2 * half);
  }

  /** A little-endian word holds channel 2i in its low and 2i+1 in its high half; bf16 bits are a float's top 16. */
  private static void joinChannels(int[] evenBf16, int[] oddBf16, int[] words, int n) {
    for (int i = 0; i < n; i++) {
      words[i] = (oddBf16[i] << 16) | (evenBf16[i] & 0xFFFF);
    }
  }

  private static void accumulate(float[] sum, float[] row, float weight, int n) {
    for (int i = 0; i < n; i++) {
      sum[i] += weight * row[i];
    }
  }

  /** {@code Bf16.fromFloat} on float bits, branch-free: round half to even, NaN to the canonical quiet NaN. */
  private static void roundToBf16(int[] bits, int n) {
    for (int i = 0; i < n; i++) {
      int value = bits[i];
      int nan = (0x7F800000 - (value & 0x7FFFFFFF)) >> 31;
      int rounded = (value + 0x7FFF + ((value >>> 16) & 1)) >>> 16;
      bits[i] = (rounded & ~nan) | ((CANONICAL_NAN | ((value >>> 16) & 0x8000)) & nan);
    }
  }
}
