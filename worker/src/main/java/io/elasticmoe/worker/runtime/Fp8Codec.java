package io.elasticmoe.worker.runtime;

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
   * {@code dst[dstOffset]} and {@code hidden/128} scales at {@code scales[scalesOffset]}.
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
