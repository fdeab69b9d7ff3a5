package io.elasticmoe.placement;

/**
 * Moves replicas so that no replicated expert has all its replicas in one failure domain, by
 * swapping slots: an expert whose replicas all sit in domain D trades one replica for the replica
 * in another domain whose load is closest to its own, so that each GPU keeps its slot count and
 * nearly its load.
 *
 * <p>A swap partner must not become confined to D itself: it is either a single-replica expert, or
 * one with another replica outside D. Experts already spread stay spread, so one pass in expert
 * order suffices. When no partner exists for an expert, every slot outside D holds the only outside
 * replica of a distinct expert that also lives in D; then {@code m} replicated experts share fewer
 * than {@code 2m} domain slots counted as {@code sum over domains of min(liveSlots(d), m)}, and no
 * placement can spread them all. That expert stays put and {@link ExpertsAtRiskCheck} reports it.
 *
 * <p>This step trades locality for survival: the hierarchical policy keeps all replicas of an
 * expert on one node, and spreading with a per-node domain undoes that for replicated experts.
 */
final class ReplicaSpreadPlanner {

  private ReplicaSpreadPlanner() {}

  static ExpertPlacement spread(
      ExpertPlacement placement, double[][] load, FailureDomains domains) {
    int numLayers = placement.phy2log().length;
    int[][] phy2log = new int[numLayers][];
    int[][][] log2phy = new int[numLayers][][];
    for (int layer = 0; layer < numLayers; layer++) {
      phy2log[layer] = placement.phy2log()[layer].clone();
      log2phy[layer] = new int[placement.log2phy()[layer].length][];
      for (int expert = 0; expert < log2phy[layer].length; expert++) {
        log2phy[layer][expert] = placement.log2phy()[layer][expert].clone();
      }
    }
    ExpertPlacement spread =
        new ExpertPlacement(phy2log, log2phy, placement.logcnt(), placement.expertsAtRisk());
    for (int layer = 0; layer < numLayers; layer++) {
      spreadLayer(spread, layer, load[layer], domains);
    }
    return spread;
  }

  private static void spreadLayer(
      ExpertPlacement placement, int layer, double[] load, FailureDomains domains) {
    int[] phy2log = placement.phy2log()[layer];
    int[][] log2phy = placement.log2phy()[layer];
    int[] logcnt = placement.logcnt()[layer];
    if (FailureDomains.countNonZero(domains.liveSlotsPerDomain(phy2log)) < 2) {
      return;
    }
    // Per slot, its domain and the load of the replica it holds (-1 when dead): the partner search
    // below reads them for every slot of every confined expert, and swaps keep them current.
    int[] slotDomain = new int[phy2log.length];
    double[] slotLoad = new double[phy2log.length];
    for (int slot = 0; slot < phy2log.length; slot++) {
      int expert = phy2log[slot];
      slotDomain[slot] = expert < 0 ? -1 : domains.ofSlot(slot);
      slotLoad[slot] = expert < 0 ? 0 : load[expert] / logcnt[expert];
    }
    for (int expert = 0; expert < log2phy.length; expert++) {
      int home = ExpertsAtRiskCheck.soleDomain(log2phy[expert], logcnt[expert], domains);
      if (home < 0) {
        continue;
      }
      double replicaLoad = load[expert] / logcnt[expert];
      int partnerSlot = -1;
      double bestDelta = Double.POSITIVE_INFINITY;
      for (int slot = 0; slot < phy2log.length; slot++) {
        if (slotDomain[slot] < 0 || slotDomain[slot] == home) {
          continue;
        }
        double delta = Math.abs(slotLoad[slot] - replicaLoad);
        // The cheap load test first: it rejects most slots before their replicas are looked at.
        if (delta < bestDelta
            && canMoveInto(log2phy[phy2log[slot]], logcnt[phy2log[slot]], slot, home, domains)) {
          bestDelta = delta;
          partnerSlot = slot;
        }
      }
      if (partnerSlot >= 0) {
        int ownSlot = log2phy[expert][logcnt[expert] - 1];
        slotLoad[ownSlot] = slotLoad[partnerSlot];
        slotLoad[partnerSlot] = replicaLoad;
        swap(phy2log, log2phy, ownSlot, partnerSlot);
      }
    }
  }

  /**
   * Whether the replica of an expert at {@code slot} may move into domain {@code home} without
   * leaving all of that expert's replicas there.
   */
  private static boolean canMoveInto(
      int[] replicas, int count, int slot, int home, FailureDomains domains) {
    if (count < 2) {
      return true;
    }
    for (int r = 0; r < count; r++) {
      if (replicas[r] != slot && domains.ofSlot(replicas[r]) != home) {
        return true;
      }
    }
    return false;
  }

  private static void swap(int[] phy2log, int[][] log2phy, int slotA, int slotB) {
    int expertA = phy2log[slotA];
    int expertB = phy2log[slotB];
    replace(log2phy[expertA], slotA, slotB);
    replace(log2phy[expertB], slotB, slotA);
    phy2log[slotA] = expertB;
    phy2log[slotB] = expertA;
  }

  private static void replace(int[] replicas, int from, int to) {
    for (int r = 0; r < replicas.length; r++) {
      if (replicas[r] == from) {
        replicas[r] = to;
        return;
      }
    }
  }
}
