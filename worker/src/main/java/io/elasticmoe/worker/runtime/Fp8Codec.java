package io.elasticmoe.worker.runtime;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;

/**
 * FP8 E4M3 (the OCP "fn" variant: bias 7, no infinities, 0x7F/0xFF are NaN, largest finite 448) and the
 * per-token cast of the dispatch path. Bit-exact with what the kernels do:
 *
 * <ul>
 *   <li>element encode = {@code __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3)}: round to nearest
 *       even, magnitudes past 448 (and ±inf) saturate to ±448, NaN stays NaN;
 *   <li>per 128 channels: {@code amax = max(max|x|, 1e-4)}, {@code scale = 448 / amax},
 *       {@code scaleInv = amax · (1/448)}, stored value {@code encode(x · scale)}, stored scale
 *       {@code scaleInv} (what a receiver multiplies by);
 *   <li>{@code roundScale}: {@code scaleInv = 2^ceil(log2(amax/448))} and {@code scale = 1/scaleInv}, both
 *       exact powers of two (DeepEP's {@code round_scale}); values then never exceed 448 before encoding.
 * </ul>
 */
public final class Fp8Codec {

  public static final float FP8_MAX = 448.0f;
  public static final float AMAX_FLOOR = 1e-4f;
  public static final float FP8_MAX_INV = 1.0f / FP8_MAX;

  private static final int MIN_NORMAL_EXPONENT = -6;
  private static final int FP8_MAX_BITS = Float.floatToRawIntBits(448.0f);
  private static final int MIN_NORMAL_BITS = Float.floatToRawIntBits(0x1p-6f);
  private static final byte MAX_FINITE_CODE = 0x7E;
  private static final byte NAN_CODE = 0x7F;
  private static final float[] DECODE = buildDecodeTable();

  private Fp8Codec() {}

  public static byte encode(float value) {
    int bits = Float.floatToRawIntBits(value);
    int sign = (bits >>> 24) & 0x80;
    int magnitude = bits & 0x7FFFFFFF;
    if (magnitude > 0x7F800000) {
      return (byte) (sign | NAN_CODE);
    }
    if (magnitude >= FP8_MAX_BITS) {
      return (byte) (sign | MAX_FINITE_CODE);
    }
    if (magnitude >= MIN_NORMAL_BITS) {
      // Keep 3 of 23 mantissa bits, rounding half to even on the 20 dropped ones; a carry moves into
      // the exponent as it should. Rebias 127 -> 7. Below 448 the result never exceeds 0x7E.
      int rounded = magnitude + 0x7FFFF + ((magnitude >>> 20) & 1);
      return (byte) (sign | ((rounded >>> 20) - (120 << 3)));
    }
    // Subnormals are multiples of 2^-9; rint rounds half to even, and 8 lands on the smallest normal.
    return (byte) (sign | (int) Math.rint(Float.intBitsToFloat(magnitude) * 0x1p9f));
  }

  public static float decode(byte code) {
    return DECODE[code & 0xFF];
  }

  /** The dequantisation scale stored with a group of 128 channels whose largest magnitude is amax. */
  public static float scaleInv(float amax, boolean roundScale) {
    float clamped = Math.max(amax, AMAX_FLOOR);
    if (roundScale) {
      return (float) Math.scalb(1.0, ceilLog2(clamped * FP8_MAX_INV));
    }
    return clamped * FP8_MAX_INV;
  }

  /** The factor a group is multiplied by before encoding; the exact reciprocal when roundScale. */
  public static float scale(float amax, boolean roundScale) {
    float clamped = Math.max(amax, AMAX_FLOOR);
    if (roundScale) {
      return (float) Math.scalb(1.0, -ceilLog2(clamped * FP8_MAX_INV));
    }
    return FP8_MAX / clamped;
  }

  /**
   * Casts one bf16 row of {@code hidden} channels starting at {@code src[srcOffset]} into fp8 codes at
   * {@code dst[dstOffset]} and {@code hidden/128} scales at {@code scales[scalesOffset]}. The scalar
   * definition, element by element; {@link RowCaster} computes the same bits several times faster.
   */
  public static void castRow(
      short[] src,
      int srcOffset,
      int hidden,
      boolean roundScale,
      byte[] dst,
      int dstOffset,
      float[] scales,
      int scalesOffset) {
    for (int group = 0; group < hidden / DispatchLayout.CHANNELS_PER_SCALE; group++) {
      int base = srcOffset + group * DispatchLayout.CHANNELS_PER_SCALE;
      float amax = 0f;
      for (int c = 0; c < DispatchLayout.CHANNELS_PER_SCALE; c++) {
        amax = Math.max(amax, Math.abs(Bf16.toFloat(src[base + c])));
      }
      float scale = scale(amax, roundScale);
      scales[scalesOffset + group] = scaleInv(amax, roundScale);
      int out = dstOffset + group * DispatchLayout.CHANNELS_PER_SCALE;
      for (int c = 0; c < DispatchLayout.CHANNELS_PER_SCALE; c++) {
        dst[out + c] = encode(Bf16.toFloat(src[base + c]) * scale);
      }
    }
  }

  /** Inverse of {@link #castRow}: fp32 values {@code decode(code) · scaleInv}. */
  public static void uncastRow(
      byte[] src, int srcOffset, float[] scales, int scalesOffset, int hidden, float[] dst,
      int dstOffset) {
    for (int c = 0; c < hidden; c++) {
      float scaleInv = scales[scalesOffset + c / DispatchLayout.CHANNELS_PER_SCALE];
      dst[dstOffset + c] = decode(src[srcOffset + c]) * scaleInv;
    }
  }

  /**
   * {@link #castRow} shaped for C2's auto-vectorisation, bit for bit the same codes and scales. C2 does not
   * vectorise the int↔float reinterpretation ({@code Float.intBitsToFloat}/{@code floatToRawIntBits} per
   * element ran at scalar speed, measured), nor a loop that narrows into a {@code byte[]}; so a row is read as
   * 32-bit words of two channels, split with int shifts and masks into the float bits of its even and odd
   * channels, and moved between int and float arrays by bulk copies through a direct scratch buffer. What
   * remains are plain int or float loops: amax as an int max of magnitude bits, the scaling, and the
   * encoding of {@link #encode} without branches (saturation as an int min, NaN as an or, subnormals by
   * the float sum {@code |v| + 2^14}, whose last mantissa bits are {@code |v|·2^9} rounded half to even).
   * The scratch is little-endian, so a word's low half is the even channel on any host. Not thread-safe:
   * one caster per thread.
   */
  public static final class RowCaster {

    private static final int MAGIC_BITS = Float.floatToRawIntBits(0x1p14f);

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

    /** {@code hidden} must be a positive multiple of {@link DispatchLayout#CHANNELS_PER_SCALE}. */
    public RowCaster(int hidden) {
      if (hidden < DispatchLayout.CHANNELS_PER_SCALE || hidden % DispatchLayout.CHANNELS_PER_SCALE != 0) {
        throw new IllegalArgumentException("hidden is " + hidden + "; the fp8 cast needs a positive multiple of "
            + DispatchLayout.CHANNELS_PER_SCALE);
      }
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
      this.groupScale = new float[hidden / DispatchLayout.CHANNELS_PER_SCALE];
      this.codePairs = new short[half];
    }

    /** As {@link Fp8Codec#castRow} for this caster's {@code hidden}. */
    public void castRow(
        short[] src, int srcOffset, boolean roundScale, byte[] dst, int dstOffset, float[] scales,
        int scalesOffset) {
      scratchShorts.put(0, src, srcOffset, hidden);
      scratchInts.get(0, words, 0, half);
      Bf16.splitChannelPairs(words, evenBits, oddBits, half);
      pairMagnitudes(evenBits, oddBits, magnitude, half);
      int pairsPerGroup = DispatchLayout.CHANNELS_PER_SCALE / 2;
      for (int group = 0; group < groupScale.length; group++) {
        int amaxBits = max(magnitude, group * pairsPerGroup, (group + 1) * pairsPerGroup);
        // A NaN anywhere makes the scalar amax (a chain of Math.max) NaN.
        float amax = amaxBits > 0x7F800000 ? Float.NaN : Float.intBitsToFloat(amaxBits);
        groupScale[group] = scale(amax, roundScale);
        scales[scalesOffset + group] = scaleInv(amax, roundScale);
      }
      scratchInts.put(0, evenBits).put(half, oddBits);
      scratchFloats.get(0, even).get(half, odd);
      scaleGroups(even, groupScale, pairsPerGroup);
      scaleGroups(odd, groupScale, pairsPerGroup);
      subnormalMagic(even, evenMagic, half);
      subnormalMagic(odd, oddMagic, half);
      scratchFloats.put(0, even).put(half, odd).put(hidden, evenMagic).put(hidden + half, oddMagic);
      scratchInts.get(0, evenBits).get(half, oddBits).get(hidden, evenSubnormal).get(hidden + half, oddSubnormal);
      encodeBits(evenBits, evenSubnormal, half);
      encodeBits(oddBits, oddSubnormal, half);
      joinCodes(evenBits, oddBits, codePairs, half);
      scratchShorts.put(0, codePairs);
      scratchBytes.get(0, dst, dstOffset, hidden);
    }

    /** For finite floats the magnitude bits order like the magnitudes; any NaN's bits exceed +inf's. */
    private static void pairMagnitudes(int[] evenBits, int[] oddBits, int[] magnitude, int n) {
      for (int i = 0; i < n; i++) {
        magnitude[i] = Math.max(evenBits[i] & 0x7FFFFFFF, oddBits[i] & 0x7FFFFFFF);
      }
    }

    private static int max(int[] values, int from, int to) {
      int max = 0;
      for (int i = from; i < to; i++) {
        max = Math.max(max, values[i]);
      }
      return max;
    }

    private static void scaleGroups(float[] values, float[] groupScale, int perGroup) {
      for (int group = 0; group < groupScale.length; group++) {
        float scale = groupScale[group];
        for (int i = group * perGroup; i < (group + 1) * perGroup; i++) {
          values[i] *= scale;
        }
      }
    }

    /** {@code |v| + 2^14} has an ulp of 2^-9: its low mantissa bits are {@code rint(|v|·2^9)} for |v| < 2^-6. */
    private static void subnormalMagic(float[] values, float[] magic, int n) {
      for (int i = 0; i < n; i++) {
        magic[i] = Math.abs(values[i]) + 0x1p14f;
      }
    }

    /** {@link Fp8Codec#encode} on float bits without branches; {@code subnormal} holds the magic sums' bits. */
    private static void encodeBits(int[] bits, int[] subnormal, int n) {
      for (int i = 0; i < n; i++) {
        int value = bits[i];
        int magnitude = value & 0x7FFFFFFF;
        // Saturate at 448 (0x7E); a NaN's code 0x7F is 0x7E with the low bit set.
        int clamped = Math.min(magnitude, FP8_MAX_BITS);
        int normal = ((clamped + 0x7FFFF + ((clamped >>> 20) & 1)) >>> 20) - (120 << 3);
        int isSubnormal = (magnitude - MIN_NORMAL_BITS) >> 31;
        int code = (subnormal[i] - MAGIC_BITS) & isSubnormal | normal & ~isSubnormal;
        bits[i] = ((value >>> 24) & 0x80) | code | ((0x7F800000 - magnitude) >>> 31);
      }
    }

    private static void joinCodes(int[] evenCodes, int[] oddCodes, short[] pairs, int n) {
      for (int i = 0; i < n; i++) {
        pairs[i] = (short) ((oddCodes[i] << 8) | (evenCodes[i] & 0xFF));
      }
    }
  }

  private static int ceilLog2(float positive) {
    int exponent = Math.getExponent(positive);
    return Math.scalb(1.0f, exponent) == positive ? exponent : exponent + 1;
  }

  private static float[] buildDecodeTable() {
    float[] table = new float[256];
    for (int code = 0; code < 256; code++) {
      int exponentField = (code >>> 3) & 0xF;
      int mantissa = code & 0x7;
      float magnitude;
      if (exponentField == 15 && mantissa == 7) {
        magnitude = Float.NaN;
      } else if (exponentField == 0) {
        magnitude = (float) Math.scalb(mantissa / 8.0, MIN_NORMAL_EXPONENT);
      } else {
        magnitude =
            (float) Math.scalb(1.0 + mantissa / 8.0, exponentField - 1 + MIN_NORMAL_EXPONENT);
      }
      table[code] = (code & 0x80) != 0 ? -magnitude : magnitude;
    }
    return table;
  }
}
