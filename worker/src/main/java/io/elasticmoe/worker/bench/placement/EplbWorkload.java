package io.elasticmoe.worker.bench.placement;

import java.util.Random;

/**
 * Per-layer, per-expert token counts shaped like MoE routing statistics: integer counts from a
 * lognormal distribution (a few hot experts, a long tail), seeded so that the Java benchmark and
 * the Python reference plan the same input.
 */
record EplbWorkload(double[][] load, int numReplicas, int numGroups, int numNodes, int numGpus) {

  /** Spread of log-load; 1.5 makes the hottest of 256 experts carry roughly 30x the median. */
  private static final double LOG_SIGMA = 1.5;

  private static final double MEDIAN_TOKENS = 100;

  static EplbWorkload generate(
      int layers,
      int numLogical,
      int numReplicas,
      int numGroups,
      int numNodes,
      int numGpus,
      long seed) {
    Random random = new Random(seed);
    double[][] load = new double[layers][numLogical];
    for (double[] row : load) {
      for (int e = 0; e < numLogical; e++) {
        row[e] = Math.rint(MEDIAN_TOKENS * Math.exp(LOG_SIGMA * random.nextGaussian()));
      }
    }
    return new EplbWorkload(load, numReplicas, numGroups, numNodes, numGpus);
  }
}
