package io.elasticmoe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.FloatRange;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class Fp8CodecTest {

  @Test
  void everyFiniteCodeRoundTripsExactly() {
    for (int code = 0; code < 256; code++) {
      float value = Fp8Codec.decode((byte) code);
      if (Float.isNaN(value)) {
        assertThat(code & 0x7F).isEqualTo(0x7F);
        continue;
      }
      int expected = code == 0x80 ? 0x80 : code;
      assertThat(Fp8Codec.encode(value) & 0xFF).as("code 0x%02x (%s)", code, value).isEqualTo(expected);
    }
  }

  @Test
  void knownValuesDecode() {
    assertThat(Fp8Codec.decode((byte) 0x7E)).isEqualTo(448f);
    assertThat(Fp8Codec.decode((byte) 0x38)).isEqualTo(1f);
    assertThat(Fp8Codec.decode((byte) 0x01)).isEqualTo(0x1p-9f);
    assertThat(Fp8Codec.decode((byte) 0x08)).isEqualTo(0x1p-6f);
    assertThat(Fp8Codec.decode((byte) 0xB8)).isEqualTo(-1f);
  }

  @Test
  void roundsHalfToEven() {
    assertThat(Fp8Codec.encode(1.0625f)).isEqualTo((byte) 0x38); // between 1.0 (even) and 1.125
    assertThat(Fp8Codec.encode(1.1875f)).isEqualTo((byte) 0x3A); // between 1.125 and 1.25 (even)
    assertThat(Fp8Codec.encode(0x1p-10f)).isEqualTo((byte) 0x00); // half the smallest subnormal
    assertThat(Fp8Codec.encode(0x3p-10f)).isEqualTo((byte) 0x02); // 1.5 subnormal ulps -> 2
  }

  @Test
  void saturatesInsteadOfOverflowing() {
    assertThat(Fp8Codec.encode(449f)).isEqualTo((byte) 0x7E);
    assertThat(Fp8Codec.encode(1e9f)).isEqualTo((byte) 0x7E);
    assertThat(Fp8Codec.encode(Float.POSITIVE_INFINITY)).isEqualTo((byte) 0x7E);
    assertThat(Fp8Codec.encode(Float.NEGATIVE_INFINITY)).isEqualTo((byte) 0xFE);
    assertThat(Float.isNaN(Fp8Codec.decode(Fp8Codec.encode(Float.NaN)))).isTrue();
  }

  @Property(tries = 2000)
  void encodeIsNearestRepresentable(@ForAll @FloatRange(min = -500f, max = 500f) float value) {
    float decoded = Fp8Codec.decode(Fp8Codec.encode(value));
    float clipped = Math.max(-448f, Math.min(448f, value));
    for (int code = 0; code < 256; code++) {
      float other = Fp8Codec.decode((byte) code);
      if (!Float.isNaN(other)) {
        assertThat(Math.abs(decoded - clipped)).isLessThanOrEqualTo(Math.abs(other - clipped));
      }
    }
  }

  @Property(tries = 300)
  void castRowRoundTripStaysWithinHalfAnUlpOfTheGroupScale(
      @ForAll @IntRange(min = 0, max = 1 << 20) int seed,
      @ForAll boolean roundScale,
      @ForAll @FloatRange(min = 1e-3f, max = 1e3f) @net.jqwik.api.constraints.Scale(4) float magnitude) {
    int hidden = 512;
    java.util.Random random = new java.util.Random(seed);
    short[] row = new short[hidden];
    for (int c = 0; c < hidden; c++) {
      row[c] = Bf16.fromFloat((float) random.nextGaussian() * magnitude);
    }
    byte[] fp8 = new byte[hidden];
    float[] scales = new float[hidden / 128];
    Fp8Codec.castRow(row, 0, hidden, roundScale, fp8, 0, scales, 0);
    float[] back = new float[hidden];
    Fp8Codec.uncastRow(fp8, 0, scales, 0, hidden, back, 0);
    for (int c = 0; c < hidden; c++) {
      float x = Bf16.toFloat(row[c]);
      float scaleInv = scales[c / 128];
      // E4M3 keeps 3 mantissa bits: relative error <= 2^-4, plus half a subnormal step (2^-10) near zero.
      float bound = Math.abs(x) * 0x1p-4f + scaleInv * 0x1p-10f + Math.ulp(x);
      assertThat(Math.abs(back[c] - x)).as("channel %d of %s", c, x).isLessThanOrEqualTo(bound);
    }
    if (roundScale) {
      for (float s : scales) {
        assertThat(Math.scalb(1f, Math.getExponent(s))).as("power of two").isEqualTo(s);
      }
    }
  }

  /** Specials included: ±0, ±inf, NaNs, bf16 subnormals, tiny and huge values (saturating after scaling). */
  private static short randomBf16(java.util.Random random, float magnitude) {
    return switch (random.nextInt(16)) {
      case 0 -> (short) 0x8000;
      case 1 -> 0;
      case 2 -> (short) (random.nextBoolean() ? 0x7F80 : 0xFF80);
      case 3 -> (short) ((0x7F81 + random.nextInt(0x7E)) | (random.nextBoolean() ? 0x8000 : 0));
      case 4 -> (short) (random.nextInt(0x80) | (random.nextBoolean() ? 0x8000 : 0));
      case 5 -> Bf16.fromFloat((float) random.nextGaussian() * magnitude * 0x1p-20f);
      default -> Bf16.fromFloat((float) random.nextGaussian() * magnitude);
    };
  }

  @Property(tries = 500)
  void rowCasterGivesTheScalarCastsBitsAndScales(
      @ForAll @IntRange(min = 0, max = 1 << 20) int seed,
      @ForAll boolean roundScale,
      @ForAll @IntRange(min = 0, max = 6) int specialsPerGroup,
      @ForAll @IntRange(min = -20, max = 20) int magnitudeExponent,
      @ForAll("hiddenSizes") int hidden) {
    float magnitude = Math.scalb(1f, magnitudeExponent);
    java.util.Random random = new java.util.Random(seed);
    short[] row = new short[hidden + 5];
    for (int c = 0; c < row.length; c++) {
      row[c] = Bf16.fromFloat((float) random.nextGaussian() * magnitude);
    }
    // A few specials per group, so most groups keep a finite amax and their other values are cast normally.
    for (int group = 0; group < hidden / 128; group++) {
      for (int i = 0; i < specialsPerGroup; i++) {
        row[5 + group * 128 + random.nextInt(128)] = randomBf16(random, magnitude);
      }
    }
    byte[] expected = new byte[hidden];
    float[] expectedScales = new float[hidden / 128];
    Fp8Codec.castRow(row, 5, hidden, roundScale, expected, 0, expectedScales, 0);
    byte[] codes = new byte[hidden + 3];
    float[] scales = new float[hidden / 128 + 2];
    new Fp8Codec.RowCaster(hidden).castRow(row, 5, roundScale, codes, 3, scales, 2);
    assertSameCodes(java.util.Arrays.copyOfRange(codes, 3, 3 + hidden), expected);
    // Scales bit for bit; a group with a NaN has a NaN scale, whose payload Java leaves open (floatToIntBits
    // maps every NaN to one).
    for (int group = 0; group < hidden / 128; group++) {
      assertThat(Float.floatToIntBits(scales[2 + group]))
          .as("scale of group %d", group).isEqualTo(Float.floatToIntBits(expectedScales[group]));
    }
  }

  @Provide
  Arbitrary<Integer> hiddenSizes() {
    return Arbitraries.of(128, 1024, 7168);
  }

  @Test
  void rowCasterEncodesEveryFloatMagnitudeAsEncodeDoes() {
    // Every bf16 bit pattern, 127 per group in order (groups of neighbouring magnitudes, so their scales
    // span the whole range) next to a 448, is cast by both and compared.
    int hidden = 128 * 520;
    short[] row = new short[hidden];
    for (int pattern = 0; pattern < 1 << 16; pattern++) {
      int group = pattern / 127;
      row[group * 128 + pattern % 127] = (short) pattern;
    }
    int groups = hidden / 128;
    for (int group = 0; group < groups; group++) {
      row[group * 128 + 127] = Bf16.fromFloat(448f);
    }
    byte[] codes = new byte[hidden];
    float[] scales = new float[groups];
    new Fp8Codec.RowCaster(hidden).castRow(row, 0, false, codes, 0, scales, 0);
    byte[] expected = new byte[hidden];
    float[] expectedScales = new float[groups];
    Fp8Codec.castRow(row, 0, hidden, false, expected, 0, expectedScales, 0);
    assertSameCodes(codes, expected);
  }

  /**
   * Equal codes, except that a NaN may come out with either sign: when both factors of {@code x · scale}
   * are NaN, which one's sign the product keeps is not fixed by Java and differs between scalar and
   * vector code.
   */
  private static void assertSameCodes(byte[] actual, byte[] expected) {
    assertThat(actual).hasSameSizeAs(expected);
    for (int c = 0; c < expected.length; c++) {
      if ((expected[c] & 0x7F) == 0x7F) {
        assertThat(actual[c] & 0x7F).as("channel %d is a NaN code", c).isEqualTo(0x7F);
      } else {
        assertThat(actual[c]).as("channel %d", c).isEqualTo(expected[c]);
      }
    }
  }

  @Property(tries = 200)
  void uncastRowIsDecodeTimesTheGroupScale(
      @ForAll @IntRange(min = 0, max = 1 << 20) int seed, @ForAll("hiddenSizes") int hidden) {
    java.util.Random random = new java.util.Random(seed);
    byte[] codes = new byte[hidden + 7];
    random.nextBytes(codes);
    float[] scales = new float[hidden / 128 + 1];
    for (int i = 0; i < scales.length; i++) {
      // Stored scales: tiny (amax at the floor), powers of two (roundScale), ordinary, huge.
      scales[i] = switch (random.nextInt(4)) {
        case 0 -> Fp8Codec.scaleInv(0f, false);
        case 1 -> Math.scalb(1f, random.nextInt(60) - 30);
        case 2 -> Float.intBitsToFloat(0x7F000000 | random.nextInt(0x800000));
        default -> random.nextFloat() * 4f;
      };
    }
    float[] values = new float[hidden + 2];
    Fp8Codec.uncastRow(codes, 7, scales, 1, hidden, values, 2);
    for (int c = 0; c < hidden; c++) {
      float expected = Fp8Codec.decode(codes[7 + c]) * scales[1 + c / 128];
      assertThat(Float.floatToIntBits(values[2 + c])).as("channel %d, code 0x%02x", c, codes[7 + c] & 0xFF)
          .isEqualTo(Float.floatToIntBits(expected));
    }
  }

  @Test
  void uncastRowDecodesEveryCode() {
    byte[] codes = new byte[256];
    for (int code = 0; code < 256; code++) {
      codes[code] = (byte) code;
    }
    float[] values = new float[256];
    Fp8Codec.uncastRow(codes, 0, new float[] {1f, 1f}, 0, 256, values, 0);
    for (int code = 0; code < 256; code++) {
      assertThat(Float.floatToIntBits(values[code])).as("code 0x%02x", code)
          .isEqualTo(Float.floatToIntBits(Fp8Codec.decode((byte) code)));
    }
  }

  @Test
  void rowCasterRejectsAHiddenSizeOutsideWholeGroups() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> new Fp8Codec.RowCaster(200))
        .hasMessage("hidden is 200; the fp8 cast needs a positive multiple of 128");
  }

  @Test
  void scaleUsesTheAmaxFloor() {
    assertThat(Fp8Codec.scaleInv(0f, false)).isEqualTo(1e-4f * (1f / 448f));
    assertThat(Fp8Codec.scale(0f, false)).isEqualTo(448f / 1e-4f);
    assertThat(Fp8Codec.scaleInv(448f, true)).isEqualTo(1f);
    assertThat(Fp8Codec.scaleInv(449f, true)).isEqualTo(2f);
  }

  @Test
  void bf16RoundsHalfToEven() {
    assertThat(Bf16.fromFloat(1f)).isEqualTo((short) 0x3F80);
    // 1 + 2^-8 is exactly between 1 and 1 + 2^-7: ties to the even mantissa (1.0).
    assertThat(Bf16.fromFloat(1f + 0x1p-8f)).isEqualTo((short) 0x3F80);
    assertThat(Bf16.fromFloat(1f + 0x3p-8f)).isEqualTo((short) 0x3F82);
    assertThat(Bf16.toFloat(Bf16.fromFloat(-128f))).isEqualTo(-128f);
  }
}
