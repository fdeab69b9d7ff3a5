package io.elasticmoe.worker.moe;

import io.elasticmoe.placement.ExpertPlacement;

/**
 * Logical → physical: selection {@code i = t·K + k} of logical expert {@code e} goes to
 * {@code log2phy[e][(t + k) mod logcnt[e]]}, which spreads a hot expert's tokens over its replicas
 * (NIXL-EP leaves this choice to the integration). An expert without a replica maps to −1 (dropped).
 */
public final class ReplicaAssigner {

  private ReplicaAssigner() {}

  public static int[] physicalIdx(ExpertPlacement placement, int layer, int[] logicalIdx, int topk) {
    int[][] log2phy = placement.log2phy()[layer];
    int[] logcnt = placement.logcnt()[layer];
    int[] physical = new int[logicalIdx.length];
    for (int i = 0; i < logicalIdx.length; i++) {
      int logical = logicalIdx[i];
      if (logical >= logcnt.length) {
        throw new IllegalArgumentException("logical expert " + logical + " is not in the placement, which has "
            + logcnt.length + " logical experts");
      }
      int count = logical < 0 ? 0 : logcnt[logical];
      physical[i] = count == 0 ? -1 : log2phy[logical][(i / topk + i % topk) % count];
    }
    return physical;
  }
}
