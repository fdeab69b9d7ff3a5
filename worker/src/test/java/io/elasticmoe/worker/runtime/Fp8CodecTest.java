package io.elasticmoe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
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
