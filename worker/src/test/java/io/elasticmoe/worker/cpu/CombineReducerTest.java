package io.elasticmoe.worker.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.elasticmoe.worker.runtime.Bf16;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class CombineReducerTest {

  /** The definition: fp32 {@code 0 + w_0·x_0 + w_1·x_1 + …} per channel in selection order, then bf16 RNE. */
  private static short[] reference(ByteBuffer rows, int[] offsets, float[] weights, int numRows, int hidden) {
    short[] out = new short[hidden];
    for (int c = 0; c < hidden; c++) {
      float sum = 0f;
      for (int i = 0; i < numRows; i++) {
        sum += weights[i] * Bf16.toFloat(rows.getShort(offsets[i] + 2 * c));
      }
      out[c] = Bf16.fromFloat(sum);
    }
    return out;
  }

  /**
   * Specials included: ±0, ±inf, NaNs, bf16 subnormals, magnitudes whose sums overflow to inf, values
   * whose sums round at the bf16 tie.
   */
  private static short randomBf16(Random random) {
    int sign = random.nextBoolean() ? 0x8000 : 0;
    return switch (random.nextInt(13)) {
      case 0 -> (short) 0x8000;
      case 1 -> (short) (0x7F80 | sign);
      case 2 -> (short) (0x7F81 + random.nextInt(0x7E) | sign);
      case 3 -> (short) (random.nextInt(0x80) | sign);
      case 4 -> 0;
      case 5 -> (short) (0x7F00 + random.nextInt(0x80) | sign);
      default -> Bf16.fromFloat((float) random.nextGaussian() * (1 << random.nextInt(20)));
    };
  }

  /** Mostly top-k-like weights in [0, 1); some negative, tiny, huge or zero ones. */
  private static float randomWeight(Random random) {
    return switch (random.nextInt(10)) {
      case 0 -> -random.nextFloat();
      case 1 -> random.nextFloat() * 0x1p-130f;
      case 2 -> random.nextFloat() * 0x1p100f;
      case 3 -> random.nextBoolean() ? 0f : -0f;
      default -> random.nextFloat();
    };
  }

  @Property(tries = 300)
  void equalsTheScalarDefinitionBitForBit(
      @ForAll @IntRange(min = 0, max = 1 << 20) int seed,
      @ForAll @IntRange(min = 0, max = 16) int numRows,
      @ForAll("hiddenSizes") int hidden) {
    Random random = new Random(seed);
    ByteBuffer bytes = ByteBuffer.allocateDirect(2 * hidden * 10 + 64).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < bytes.capacity() / 2; i++) {
      bytes.putShort(2 * i, randomBf16(random));
    }
    int[] offsets = new int[numRows];
    float[] weights = new float[numRows];
    for (int i = 0; i < numRows; i++) {
      // Any channel offset, overlapping rows included.
      offsets[i] = 2 * random.nextInt(hidden * 8 + 32);
      weights[i] = randomWeight(random);
    }
    short[] out = new short[hidden + 3];
    new CombineReducer(hidden, bytes).reduceToken(offsets, weights, numRows, out, 3);
    short[] expected = reference(bytes, offsets, weights, numRows, hidden);
    for (int c = 0; c < hidden; c++) {
      if (Float.isNaN(Bf16.toFloat(expected[c]))) {
        // Which operand's NaN an fp32 add or multiply passes on (and so the sign) is not fixed by Java,
        // and differs between scalar and vector code: a NaN only has to stay a NaN.
        assertThat(Float.isNaN(Bf16.toFloat(out[3 + c]))).as("channel %d is NaN", c).isTrue();
      } else {
        assertThat(out[3 + c]).as("channel %d", c).isEqualTo(expected[c]);
      }
    }
  }

  @Provide
  Arbitrary<Integer> hiddenSizes() {
    return Arbitraries.of(128, 384, 7168);
  }

  @Test
  void aNegativeZeroProductSumsToPositiveZero() {
    ByteBuffer bytes = ByteBuffer.allocateDirect(256).order(ByteOrder.LITTLE_ENDIAN);
    bytes.putShort(0, (short) 0x8000).putShort(2, Bf16.fromFloat(1f));
    short[] out = new short[128];
    new CombineReducer(128, bytes).reduceToken(new int[] {0}, new float[] {1f}, 1, out, 0);
    assertThat(out[0]).isEqualTo((short) 0x0000);
    assertThat(out[1]).isEqualTo(Bf16.fromFloat(1f));
  }

  @Test
  void withNoRowsTheTokenIsZero() {
    short[] out = new short[130];
    Arrays.fill(out, (short) 0x3F80);
    new CombineReducer(128, ByteBuffer.allocateDirect(256).order(ByteOrder.LITTLE_ENDIAN))
        .reduceToken(new int[0], new float[0], 0, out, 1);
    assertThat(out[0]).isEqualTo((short) 0x3F80);
    assertThat(Arrays.copyOfRange(out, 1, 129)).containsOnly((short) 0);
    assertThat(out[129]).isEqualTo((short) 0x3F80);
  }

  @Test
  void rejectsAHiddenSizeOffTheLayoutsABigEndianBufferAndARowPastTheBuffer() {
    ByteBuffer bytes = ByteBuffer.allocateDirect(256).order(ByteOrder.LITTLE_ENDIAN);
    assertThatThrownBy(() -> new CombineReducer(200, bytes))
        .hasMessage("hidden is 200; the reduction needs a positive multiple of 128");
    assertThatThrownBy(() -> new CombineReducer(128, ByteBuffer.allocateDirect(256)))
        .hasMessage("rows are read little-endian, as the buffer layout stores them");
    assertThatThrownBy(
            () -> new CombineReducer(128, bytes).reduceToken(new int[] {2}, new float[] {1f}, 1, new short[128], 0))
        .isInstanceOf(IndexOutOfBoundsException.class);
  }
}
