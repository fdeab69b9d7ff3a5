package io.elasticmoe.worker.runtime;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

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
   * definition, element by element; {@link RowCaster} computes the same bits with SIMD.
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

  /**
   * Inverse of {@link #castRow}: fp32 values {@code decode(code) · scaleInv}, for {@code hidden} a multiple of
   * {@link DispatchLayout#CHANNELS_PER_SCALE}. Decoded without the table, bit for bit its values: a code's 7
   * magnitude bits shifted to float bits 20..26 put its 4 exponent bits at the bottom of the float exponent
   * and its 3 mantissa bits at the top of the mantissa, so that float times 2^120 (exact) is the E4M3 value,
   * subnormals included (they land on float subnormals); 0x7F is NaN.
   */
  public static void uncastRow(
      byte[] src, int srcOffset, float[] scales, int scalesOffset, int hidden, float[] dst,
      int dstOffset) {
    int step = UncastSpecies.FLOATS.length();
    for (int group = 0; group < hidden / DispatchLayout.CHANNELS_PER_SCALE; group++) {
      float scaleInv = scales[scalesOffset + group];
      int from = group * DispatchLayout.CHANNELS_PER_SCALE;
      for (int c = from; c < from + DispatchLayout.CHANNELS_PER_SCALE; c += step) {
        IntVector codes = (IntVector) ByteVector.fromArray(UncastSpecies.CODES, src, srcOffset + c)
            .convertShape(VectorOperators.B2I, UncastSpecies.INTS, 0);
        IntVector magnitude = codes.and(0x7F);
        FloatVector value = magnitude.lanewise(VectorOperators.LSHL, 20).reinterpretAsFloats().mul(0x1p120f)
            .blend(Float.NaN, magnitude.compare(VectorOperators.EQ, 0x7F).cast(UncastSpecies.FLOATS));
        value.reinterpretAsInts().or(codes.and(0x80).lanewise(VectorOperators.LSHL, 24)).reinterpretAsFloats()
            .mul(scaleInv)
            .intoArray(dst, dstOffset + c);
      }
    }
  }

  /**
   * One fp8 code per float lane: the codes load at a quarter of the float width, which must be 64 bits at
   * least (so 256-bit floats on a 128-bit host).
   */
  private static final class UncastSpecies {
    static final VectorSpecies<Float> FLOATS = VectorSpecies.of(float.class,
        VectorShape.forBitSize(Math.max(256, FloatVector.SPECIES_PREFERRED.vectorBitSize())));
    static final VectorSpecies<Integer> INTS = FLOATS.withLanes(int.class);
    static final VectorSpecies<Byte> CODES =
        VectorSpecies.of(byte.class, VectorShape.forBitSize(FLOATS.vectorBitSize() / 4));
  }

  /**
   * {@link #castRow} in the Vector API, bit for bit the same codes and scales. A row is loaded as 32-bit words
   * of two channels (lanes reinterpret little-endian on every host, so a word's low half is the even
   * channel), and a channel's float bits are its half of the word shifted to the top: no lane shuffles. Per
   * group of 128 channels, amax is an int max of magnitude bits (they order like the magnitudes, and any
   * NaN's exceed +inf's); then each value is scaled and encoded as {@link #encode} does, without branches:
   * saturation as an int min, NaN as an or, subnormals through the float sum {@code |v| + 2^14}, whose last
   * mantissa bits are {@code |v|·2^9} rounded half to even. The two codes of a word go back into its 16 low
   * bits, and one narrowing conversion stores them in channel order. Stateless: a caster may serve several
   * threads.
   */
  public static final class RowCaster {

    private static final VectorSpecies<Short> SHORTS = ShortVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> WORDS = IntVector.SPECIES_PREFERRED;
    // Half the width of WORDS with as many lanes: one code pair (16 bits) per word.
    private static final VectorSpecies<Short> CODE_PAIRS =
        VectorSpecies.of(short.class, VectorShape.forBitSize(WORDS.vectorBitSize() / 2));
    private static final int MAGIC_BITS = Float.floatToRawIntBits(0x1p14f);

    private final int hidden;

    /**
     * {@code hidden} must be a positive multiple of {@link DispatchLayout#CHANNELS_PER_SCALE}: a group is then
     * a whole number of vectors for any vector size up to 2048 bits.
     */
    public RowCaster(int hidden) {
      if (hidden < DispatchLayout.CHANNELS_PER_SCALE || hidden % DispatchLayout.CHANNELS_PER_SCALE != 0) {
        throw new IllegalArgumentException("hidden is " + hidden + "; the fp8 cast needs a positive multiple of "
            + DispatchLayout.CHANNELS_PER_SCALE);
      }
      this.hidden = hidden;
    }

    /** As {@link Fp8Codec#castRow} for this caster's {@code hidden}. */
    public void castRow(
        short[] src, int srcOffset, boolean roundScale, byte[] dst, int dstOffset, float[] scales,
        int scalesOffset) {
      for (int group = 0; group < hidden / DispatchLayout.CHANNELS_PER_SCALE; group++) {
        int channel = group * DispatchLayout.CHANNELS_PER_SCALE;
        int amaxBits = magnitudeBitsMax(src, srcOffset + channel);
        // A NaN anywhere makes the scalar amax (a chain of Math.max) NaN.
        float amax = amaxBits > 0x7F800000 ? Float.NaN : Float.intBitsToFloat(amaxBits);
        scales[scalesOffset + group] = scaleInv(amax, roundScale);
        encodeGroup(src, srcOffset + channel, scale(amax, roundScale), dst, dstOffset + channel);
      }
    }

    private static int magnitudeBitsMax(short[] src, int from) {
      IntVector max = IntVector.zero(WORDS);
      for (int c = from; c < from + DispatchLayout.CHANNELS_PER_SCALE; c += SHORTS.length()) {
        IntVector words = ShortVector.fromArray(SHORTS, src, c).reinterpretAsInts();
        max = max.max(words.lanewise(VectorOperators.LSHL, 16).and(0x7FFFFFFF)).max(words.and(0x7FFF0000));
      }
      return max.reduceLanes(VectorOperators.MAX);
    }

    /**
     * {@link Fp8Codec#encode} of each channel times {@code scale}. The even channel of a word is its part
     * 0 and the odd its part 1 (a part's float bits are {@code (word >>> 16·part) << 16}); one loop over the
     * two parts keeps a single copy of the encoding in the one method that C2 compiles, since a vector
     * handed to a method it did not inline is boxed on the heap (measured: 6 bytes per channel, 5× slower).
     */
    private static void encodeGroup(short[] src, int from, float scale, byte[] dst, int dstFrom) {
      for (int c = 0; c < DispatchLayout.CHANNELS_PER_SCALE; c += SHORTS.length()) {
        IntVector words = ShortVector.fromArray(SHORTS, src, from + c).reinterpretAsInts();
        IntVector codePairs = IntVector.zero(WORDS);
        for (int part = 0; part < 2; part++) {
          FloatVector values = words.lanewise(VectorOperators.LSHR, 16 * part).lanewise(VectorOperators.LSHL, 16)
              .reinterpretAsFloats().mul(scale);
          IntVector bits = values.reinterpretAsInts();
          IntVector magnitude = bits.and(0x7FFFFFFF);
          // Saturate at 448 (0x7E); a NaN's code 0x7F is 0x7E with the low bit set.
          IntVector clamped = magnitude.min(FP8_MAX_BITS);
          IntVector normal = clamped.add(clamped.lanewise(VectorOperators.LSHR, 20).and(1)).add(0x7FFFF)
              .lanewise(VectorOperators.LSHR, 20).sub(120 << 3);
          IntVector subnormal = values.abs().add(0x1p14f).reinterpretAsInts().sub(MAGIC_BITS);
          IntVector code = normal.blend(subnormal, magnitude.compare(VectorOperators.LT, MIN_NORMAL_BITS));
          IntVector nan = IntVector.broadcast(WORDS, 0x7F800000).sub(magnitude).lanewise(VectorOperators.LSHR, 31);
          code = bits.lanewise(VectorOperators.LSHR, 24).and(0x80).or(code).or(nan);
          codePairs = codePairs.or(code.lanewise(VectorOperators.LSHL, 8 * part));
        }
        codePairs.convertShape(VectorOperators.I2S, CODE_PAIRS, 0).reinterpretAsBytes().intoArray(dst, dstFrom + c);
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
