package io.elasticmoe.worker.runtime;

/**
 * bfloat16 as the upper 16 bits of an IEEE float, held in a {@code short}. Rounding float to bf16 is
 * round-to-nearest-even, as {@code __float2bfloat16} does on the GPU, so both backends agree bit for bit.
 */
public final class Bf16 {

  private static final short CANONICAL_NAN = 0x7FC0;

  private Bf16() {}

  public static short fromFloat(float value) {
    int bits = Float.floatToRawIntBits(value);
    if (Float.isNaN(value)) {
      return (short) (CANONICAL_NAN | ((bits >>> 16) & 0x8000));
    }
    // Adding 0x7FFF plus the lowest kept bit rounds half to even on the 16 dropped bits.
    int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
    return (short) (rounded >>> 16);
  }

  public static float toFloat(short bf16) {
    return Float.intBitsToFloat((bf16 & 0xFFFF) << 16);
  }
}
