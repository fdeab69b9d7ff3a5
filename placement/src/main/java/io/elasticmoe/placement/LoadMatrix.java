package io.elasticmoe.placement;

/**
 * Checks a per-layer, per-expert load matrix and rounds it to float, the precision every EPLB
 * decision is made in (the reference runs on {@code weight.float()}).
 */
final class LoadMatrix {

  private LoadMatrix() {}

  /**
   * @param field the caller's name for the matrix, used in error messages
   * @throws IllegalArgumentException naming the cell and its value when the matrix is empty,
   *     ragged, or holds a negative, NaN, infinite or beyond-float load
   */
  static float[][] toFloat(double[][] load, String field) {
    if (load == null || load.length == 0) {
      throw new IllegalArgumentException(field + " has no layers; at least one is required");
    }
    if (load[0] == null || load[0].length == 0) {
      throw new IllegalArgumentException(field + "[0] has no experts; at least one is required");
    }
    int numLogical = load[0].length;
    float[][] rows = new float[load.length][numLogical];
    for (int layer = 0; layer < load.length; layer++) {
      if (load[layer] == null || load[layer].length != numLogical) {
        throw new IllegalArgumentException(
            "%s[%s] has %s experts; every layer must have %s like %s[0]"
                .formatted(
                    field,
                    layer,
                    (load[layer] == null ? 0 : load[layer].length),
                    numLogical,
                    field));
      }
      for (int expert = 0; expert < numLogical; expert++) {
        double value = load[layer][expert];
        float rounded = (float) value;
        if (!(value >= 0) || Float.isInfinite(rounded)) {
          throw new IllegalArgumentException(
              "%s[%s][%s] is %s; loads must be finite, non-negative and at most %s"
                  .formatted(field, layer, expert, value, Float.MAX_VALUE));
        }
        rows[layer][expert] = rounded;
      }
    }
    return rows;
  }
}
