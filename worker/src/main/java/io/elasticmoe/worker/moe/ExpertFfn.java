package io.elasticmoe.worker.moe;

import java.util.Random;

/**
 * One logical expert: SwiGLU {@code y = W2·(silu(W1·x) ⊙ W3·x)} with weights drawn from
 * {@code (seed, logicalExpert)}, so any rank can host any expert after a placement change and the
 * single-process reference computes the same function.
 */
public final class ExpertFfn {

  private final int hidden;
  private final int intermediate;
  private final float[] w1;
  private final float[] w3;
  private final float[] w2;

  public ExpertFfn(int logicalExpert, int hidden, int intermediate, long seed) {
    this.hidden = hidden;
    this.intermediate = intermediate;
    Random random = new Random(seed * 1_000_003L + logicalExpert);
    float inScale = (float) (1 / Math.sqrt(hidden));
    float outScale = (float) (1 / Math.sqrt(intermediate));
    this.w1 = gaussian(random, intermediate * hidden, inScale);
    this.w3 = gaussian(random, intermediate * hidden, inScale);
    this.w2 = gaussian(random, hidden * intermediate, outScale);
  }

  private static float[] gaussian(Random random, int length, float scale) {
    float[] values = new float[length];
    for (int i = 0; i < length; i++) {
      values[i] = (float) random.nextGaussian() * scale;
    }
    return values;
  }

  /** Reads {@code hidden} values at {@code in[inOffset]} and writes {@code hidden} values at {@code out[outOffset]}. */
  public void forward(float[] in, int inOffset, float[] out, int outOffset) {
    float[] activated = new float[intermediate];
    for (int j = 0; j < intermediate; j++) {
      float gate = 0;
      float up = 0;
      int row = j * hidden;
      for (int c = 0; c < hidden; c++) {
        gate += w1[row + c] * in[inOffset + c];
        up += w3[row + c] * in[inOffset + c];
      }
      float silu = gate / (1 + (float) Math.exp(-gate));
      activated[j] = silu * up;
    }
    for (int c = 0; c < hidden; c++) {
      float sum = 0;
      int row = c * intermediate;
      for (int j = 0; j < intermediate; j++) {
        sum += w2[row + j] * activated[j];
      }
      out[outOffset + c] = sum;
    }
  }
}
