package io.elasticmoe.worker.runtime;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * bfloat16 as the upper 16 bits of an IEEE float, held in a {@code short}. Rounding float to bf16 is
 * round-to-nearest-even, as {@code __float2bfloat16} does on the GPU, so both backends agree bit for bit.
 */
public final class Bf16 {

  private static final short CANONICAL_NAN = 0x7FC0;
  private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> INTS = FLOATS.withLanes(int.class);
  // As many lanes as FLOATS at half the width: one bf16 per float.
  private static final VectorSpecies<Short> SHORTS =
      VectorSpecies.of(short.class, VectorShape.forBitSize(FLOATS.vectorBitSize() / 2));

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

  /**
   * {@link #toFloat} of {@code src[srcOffset..+n)} into {@code dst[dstOffset..)}, for {@code n} a multiple
   * of 128 (a row of any layout). Vector API: C2 does not vectorise {@code Float.intBitsToFloat} per element.
   */
  public static void toFloats(short[] src, int srcOffset, float[] dst, int dstOffset, int n) {
    for (int c = 0; c < n; c += FLOATS.length()) {
      ((IntVector) ShortVector.fromArray(SHORTS, src, srcOffset + c).convertShape(VectorOperators.S2I, INTS, 0))
          .lanewise(VectorOperators.LSHL, 16)
          .reinterpretAsFloats()
          .intoArray(dst, dstOffset + c);
    }
  }
}
