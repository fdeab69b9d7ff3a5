package io.elasticmoe.worker.moe;

import io.elasticmoe.worker.runtime.Bf16;
import io.elasticmoe.worker.runtime.DispatchLayout;
import java.util.Random;

/**
 * The gate of the synthetic MoE layer: logits = x·W_g with seeded W_g [H, numLogicalExperts], softmax,
 * then the top-k logical experts and their softmax probabilities renormalised over the k (DeepSeek-V3
 * style). Deterministic in (seed, x): every rank and the single-process reference route alike.
 */
public final class TopkRouter {

  /** Logical expert ids {@code [T, K]} and weights {@code [T, K]}. */
  public record Routing(int[] logicalIdx, float[] weights) {}

  private final int hidden;
  private final int numLogicalExperts;
  private final int topk;
  private final float[] gate;

  public TopkRouter(int hidden, int numLogicalExperts, int topk, long seed) {
    if (topk < 1 || topk > Math.min(DispatchLayout.MAX_TOPK, numLogicalExperts)) {
      throw new IllegalArgumentException("topk is " + topk + "; it must be in 1.."
          + Math.min(DispatchLayout.MAX_TOPK, numLogicalExperts) + " (MAX_TOPK and " + numLogicalExperts + " experts)");
    }
    this.hidden = hidden;
    this.numLogicalExperts = numLogicalExperts;
    this.topk = topk;
    this.gate = new float[hidden * numLogicalExperts];
    Random random = new Random(seed);
    float scale = (float) (1 / Math.sqrt(hidden));
    for (int i = 0; i < gate.length; i++) {
      gate[i] = (float) random.nextGaussian() * scale;
    }
  }

  public int topk() {
    return topk;
  }

  public int numLogicalExperts() {
    return numLogicalExperts;
  }

  public Routing route(short[] x, int numTokens) {
    int[] idx = new int[numTokens * topk];
    float[] weights = new float[numTokens * topk];
    float[] logits = new float[numLogicalExperts];
    for (int t = 0; t < numTokens; t++) {
      java.util.Arrays.fill(logits, 0f);
      for (int c = 0; c < hidden; c++) {
        float value = Bf16.toFloat(x[t * hidden + c]);
        for (int e = 0; e < numLogicalExperts; e++) {
          logits[e] += value * gate[c * numLogicalExperts + e];
        }
      }
      float max = Float.NEGATIVE_INFINITY;
      for (float logit : logits) {
        max = Math.max(max, logit);
      }
      boolean[] taken = new boolean[numLogicalExperts];
      float sum = 0;
      for (int k = 0; k < topk; k++) {
        int best = -1;
        for (int e = 0; e < numLogicalExperts; e++) {
          if (!taken[e] && (best < 0 || logits[e] > logits[best])) {
            best = e;
          }
        }
        taken[best] = true;
        idx[t * topk + k] = best;
        weights[t * topk + k] = (float) Math.exp(logits[best] - max);
        sum += weights[t * topk + k];
      }
      for (int k = 0; k < topk; k++) {
        weights[t * topk + k] /= sum;
      }
    }
    return new Routing(idx, weights);
  }
}
