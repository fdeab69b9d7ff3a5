package io.elasticmoe.worker.bench.dataplane;

import io.elasticmoe.worker.runtime.Fp8Codec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;

/**
 * The per-token loops as they were before the Vector API (commit 021bed7): the combine reduction and the fp8
 * cast as plain int and float loops shaped for C2's auto-vectorisation, moving between int and float arrays
 * by bulk copies through a direct scratch buffer, and the uncast as a table lookup per channel. Kept only as
 * the side-by-side baseline of {@link DataplaneKernelsBenchmark}; the property tests pin the production code
 * to the same bits.
 */
final class BeforeVectorApi {

  private static final int CHANNELS_PER_SCALE = 128;
  private static final int CANONICAL_NAN = 0x7FC0;
  private static final int FP8_MAX_BITS = Float.floatToRawIntBits(448.0f);
  private static final int MIN_NORMAL_BITS = Float.floatToRawIntBits(0x1p-6f);
  private static final int MAGIC_BITS = Float.floatToRawIntBits(0x1p14f);

  private BeforeVectorApi() {}

  static void uncastRow(byte[] src, int srcOffset, float[] scales, int scalesOffset, int hidden, float[] dst,
      int dstOffset) {
    for (int c = 0; c < hidden; c++) {
      dst[dstOffset + c] = Fp8Codec.decode(src[srcOffset + c]) * scales[scalesOffset + c / CHANNELS_PER_SCALE];
    }
  }

  static final class Reducer {

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

    Reducer(int hidden, ByteBuffer rows) {
      this.half = hidden / 2;
      this.rows = rows.asIntBuffer();
      this.words = new int[half];
      this.evenBits = new int[half];
      this.oddBits = new int[half];
      this.even = new float[half];
      this.odd = new float[half];
      this.evenSum = new float[half];
      this.oddSum = new float[half];
      ByteBuffer scratch = ByteBuffer.allocateDirect(8 * half).order(ByteOrder.LITTLE_ENDIAN);
      this.scratchInts = scratch.asIntBuffer();
      this.scratchFloats = scratch.asFloatBuffer();
      this.scratchShorts = scratch.asShortBuffer();
    }

    void reduceToken(int[] rowOffsets, float[] weights, int numRows, short[] out, int outOffset) {
      Arrays.fill(evenSum, 0f);
      Arrays.fill(oddSum, 0f);
      for (int i = 0; i < numRows; i++) {
        rows.get(rowOffsets[i] / 4, words, 0, half);
        splitChannelPairs(words, evenBits, oddBits, half);
        scratchInts.put(0, evenBits).put(half, oddBits);
        scratchFloats.get(0, even).get(half, odd);
        accumulate(evenSum, even, weights[i], half);
        accumulate(oddSum, odd, weights[i], half);
      }
      scratchFloats.put(0, evenSum).put(half, oddSum);
      scratchInts.get(0, evenBits).get(half, oddBits);
      roundToBf16(evenBits, half);
      roundToBf16(oddBits, half);
      for (int i = 0; i < half; i++) {
        words[i] = (oddBits[i] << 16) | (evenBits[i] & 0xFFFF);
      }
      scratchInts.put(0, words);
      scratchShorts.get(0, out, outOffset, 2 * half);
    }

    private static void accumulate(float[] sum, float[] row, float weight, int n) {
      for (int i = 0; i < n; i++) {
        sum[i] += weight * row[i];
      }
    }

    private static void roundToBf16(int[] bits, int n) {
      for (int i = 0; i < n; i++) {
        int value = bits[i];
        int nan = (0x7F800000 - (value & 0x7FFFFFFF)) >> 31;
        int rounded = (value + 0x7FFF + ((value >>> 16) & 1)) >>> 16;
        bits[i] = (rounded & ~nan) | ((CANONICAL_NAN | ((value >>> 16) & 0x8000)) & nan);
      }
    }
  }

  static final class Caster {

    private final int hidden;
    private final int half;
    private final ShortBuffer scratchShorts;
    private final IntBuffer scratchInts;
    private final FloatBuffer scratchFloats;
    private final ByteBuffer scratchBytes;
    private final int[] words;
    private final int[] evenBits;
    private final int[] oddBits;
    private final int[] magnitude;
    private final int[] evenSubnormal;
    private final int[] oddSubnormal;
    private final float[] even;
    private final float[] odd;
    private final float[] evenMagic;
    private final float[] oddMagic;
    private final float[] groupScale;
    private final short[] codePairs;

    Caster(int hidden) {
      this.hidden = hidden;
      this.half = hidden / 2;
      ByteBuffer scratch = ByteBuffer.allocateDirect(8 * hidden).order(ByteOrder.LITTLE_ENDIAN);
      this.scratchBytes = scratch;
      this.scratchShorts = scratch.asShortBuffer();
      this.scratchInts = scratch.asIntBuffer();
      this.scratchFloats = scratch.asFloatBuffer();
      this.words = new int[half];
      this.evenBits = new int[half];
      this.oddBits = new int[half];
      this.magnitude = new int[half];
      this.evenSubnormal = new int[half];
      this.oddSubnormal = new int[half];
      this.even = new float[half];
      this.odd = new float[half];
      this.evenMagic = new float[half];
      this.oddMagic = new float[half];
      this.groupScale = new float[hidden / CHANNELS_PER_SCALE];
      this.codePairs = new short[half];
    }

    void castRow(short[] src, int srcOffset, boolean roundScale, byte[] dst, int dstOffset, float[] scales,
        int scalesOffset) {
      scratchShorts.put(0, src, srcOffset, hidden);
      scratchInts.get(0, words, 0, half);
      splitChannelPairs(words, evenBits, oddBits, half);
      for (int i = 0; i < half; i++) {
        magnitude[i] = Math.max(evenBits[i] & 0x7FFFFFFF, oddBits[i] & 0x7FFFFFFF);
      }
      int pairsPerGroup = CHANNELS_PER_SCALE / 2;
      for (int group = 0; group < groupScale.length; group++) {
        int amaxBits = 0;
        for (int i = group * pairsPerGroup; i < (group + 1) * pairsPerGroup; i++) {
          amaxBits = Math.max(amaxBits, magnitude[i]);
        }
        float amax = amaxBits > 0x7F800000 ? Float.NaN : Float.intBitsToFloat(amaxBits);
        groupScale[group] = Fp8Codec.scale(amax, roundScale);
        scales[scalesOffset + group] = Fp8Codec.scaleInv(amax, roundScale);
      }
      scratchInts.put(0, evenBits).put(half, oddBits);
      scratchFloats.get(0, even).get(half, odd);
      scaleGroups(even, groupScale, pairsPerGroup);
      scaleGroups(odd, groupScale, pairsPerGroup);
      for (int i = 0; i < half; i++) {
        evenMagic[i] = Math.abs(even[i]) + 0x1p14f;
      }
      for (int i = 0; i < half; i++) {
        oddMagic[i] = Math.abs(odd[i]) + 0x1p14f;
      }
      scratchFloats.put(0, even).put(half, odd).put(hidden, evenMagic).put(hidden + half, oddMagic);
      scratchInts.get(0, evenBits).get(half, oddBits).get(hidden, evenSubnormal).get(hidden + half, oddSubnormal);
      encodeBits(evenBits, evenSubnormal, half);
      encodeBits(oddBits, oddSubnormal, half);
      for (int i = 0; i < half; i++) {
        codePairs[i] = (short) ((oddBits[i] << 8) | (evenBits[i] & 0xFF));
      }
      scratchShorts.put(0, codePairs);
      scratchBytes.get(0, dst, dstOffset, hidden);
    }

    private static void scaleGroups(float[] values, float[] groupScale, int perGroup) {
      for (int group = 0; group < groupScale.length; group++) {
        float scale = groupScale[group];
        for (int i = group * perGroup; i < (group + 1) * perGroup; i++) {
          values[i] *= scale;
        }
      }
    }

    private static void encodeBits(int[] bits, int[] subnormal, int n) {
      for (int i = 0; i < n; i++) {
        int value = bits[i];
        int magnitude = value & 0x7FFFFFFF;
        int clamped = Math.min(magnitude, FP8_MAX_BITS);
        int normal = ((clamped + 0x7FFFF + ((clamped >>> 20) & 1)) >>> 20) - (120 << 3);
        int isSubnormal = (magnitude - MIN_NORMAL_BITS) >> 31;
        int code = (subnormal[i] - MAGIC_BITS) & isSubnormal | normal & ~isSubnormal;
        bits[i] = ((value >>> 24) & 0x80) | code | ((0x7F800000 - magnitude) >>> 31);
      }
    }
  }

  private static void splitChannelPairs(int[] words, int[] evenBits, int[] oddBits, int n) {
    for (int i = 0; i < n; i++) {
      evenBits[i] = words[i] << 16;
    }
    for (int i = 0; i < n; i++) {
      oddBits[i] = words[i] & 0xFFFF0000;
    }
  }
}
