package io.elasticmoe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class Bf16Test {

  @Test
  void toFloatsConvertsEveryBitPatternAsToFloatDoes() {
    short[] patterns = new short[3 + (1 << 16)];
    for (int pattern = 0; pattern < 1 << 16; pattern++) {
      patterns[3 + pattern] = (short) pattern;
    }
    float[] values = new float[5 + (1 << 16)];
    Bf16.toFloats(patterns, 3, values, 5, 1 << 16);
    for (int pattern = 0; pattern < 1 << 16; pattern++) {
      // Raw bits: every NaN payload and both zeros must come through unchanged.
      assertThat(Float.floatToRawIntBits(values[5 + pattern])).as("pattern 0x%04x", pattern)
          .isEqualTo(Float.floatToRawIntBits(Bf16.toFloat((short) pattern)));
    }
  }
}
