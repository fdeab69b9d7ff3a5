package io.elasticmoe.placement;

import java.util.Arrays;
import java.util.List;

/**
 * EPLB for a world with failed ranks, as SGLang's elastic EP does it: with every rank alive it is
 * {@link DeepSeekEplb#rebalanceExperts}; with {@code A < numGpus} ranks alive it runs the global
 * policy over the {@code A * slotsPerRank} slots of the live ranks, as if they were {@code A} GPUs,
 * and maps virtual GPU {@code i} back to the {@code i}-th live rank.
 *
 * <p>Guarantees: shapes never change ({@code phy2log} keeps all {@code numReplicas} slots, a dead
 * rank's slots hold -1), no entry of {@code log2phy} names a slot of a dead rank, and every logical
 * expert keeps at least one replica on a live rank. Unlike SGLang, which fills dead slots with
 * expert 0, a dead slot holds -1 here so that nothing can mistake it for a replica.
 */
public final class ElasticityAwareEplb {

  private ElasticityAwareEplb() {}

  /**
   * @param activeRanks the live ranks, strictly increasing, each in {@code [0, numGpus)}
   * @throws IllegalArgumentException when the live slots cannot hold one replica of every logical
   *     expert, or an argument breaks a rule of {@link DeepSeekEplb}
   */
  public static ExpertPlacement rebalance(
      double[][] weight,
      int numReplicas,
      int numGroups,
      int numNodes,
      int numGpus,
      List<Integer> activeRanks) {
    if (numGpus <= 0) {
      throw new IllegalArgumentException("num_gpus is " + numGpus + "; it must be at least 1");
    }
    if (numReplicas % numGpus != 0) {
      throw new IllegalArgumentException(
          "num_replicas is %s; it must be a multiple of num_gpus (%s)"
              .formatted(numReplicas, numGpus));
    }
    checkActiveRanks(activeRanks, numGpus);
    if (activeRanks.size() == numGpus) {
      return DeepSeekEplb.rebalanceExperts(weight, numReplicas, numGroups, numNodes, numGpus);
    }
    int slotsPerRank = numReplicas / numGpus;
    int liveSlots = activeRanks.size() * slotsPerRank;
    int numLogical =
        weight == null || weight.length == 0 || weight[0] == null ? 0 : weight[0].length;
    if (liveSlots < numLogical) {
      throw new IllegalArgumentException(
          String.format(
              "%s active ranks x %s slots per rank = %s slots, fewer than the %s logical experts: "
                  + "some expert would have no live replica",
              activeRanks.size(), slotsPerRank, liveSlots, numLogical));
    }
    ExpertPlacement live = DeepSeekEplb.rebalanceGlobal(weight, liveSlots, activeRanks.size());
    return expand(live, activeRanks, slotsPerRank, numReplicas);
  }

  /**
   * Moves the slots of virtual GPU {@code i} to live rank {@code activeRanks[i]}; dead slots get
   * -1.
   */
  private static ExpertPlacement expand(
      ExpertPlacement live, List<Integer> activeRanks, int slotsPerRank, int numReplicas) {
    int[] slotOf = new int[activeRanks.size() * slotsPerRank];
    for (int virtual = 0; virtual < slotOf.length; virtual++) {
      slotOf[virtual] =
          activeRanks.get(virtual / slotsPerRank) * slotsPerRank + virtual % slotsPerRank;
    }
    int numLayers = live.phy2log().length;
    int[][] phy2log = new int[numLayers][numReplicas];
    int[][][] log2phy = new int[numLayers][][];
    for (int layer = 0; layer < numLayers; layer++) {
      Arrays.fill(phy2log[layer], -1);
      for (int virtual = 0; virtual < slotOf.length; virtual++) {
        phy2log[layer][slotOf[virtual]] = live.phy2log()[layer][virtual];
      }
      log2phy[layer] = new int[live.log2phy()[layer].length][];
      for (int expert = 0; expert < log2phy[layer].length; expert++) {
        int[] replicas = live.log2phy()[layer][expert].clone();
        for (int r = 0; r < replicas.length; r++) {
          if (replicas[r] >= 0) {
            replicas[r] = slotOf[replicas[r]];
          }
        }
        log2phy[layer][expert] = replicas;
      }
    }
    return new ExpertPlacement(phy2log, log2phy, live.logcnt(), List.of());
  }

  private static void checkActiveRanks(List<Integer> activeRanks, int numGpus) {
    if (activeRanks == null || activeRanks.isEmpty()) {
      throw new IllegalArgumentException("active ranks are empty; at least one rank must be alive");
    }
    int previous = -1;
    for (Integer rank : activeRanks) {
      if (rank == null || rank < 0 || rank >= numGpus) {
        throw new IllegalArgumentException(
            "active rank " + rank + " is outside [0, " + numGpus + "): num_gpus is " + numGpus);
      }
      if (rank <= previous) {
        throw new IllegalArgumentException(
            "active ranks %s must be strictly increasing; %s follows %s"
                .formatted(activeRanks, rank, previous));
      }
      previous = rank;
    }
  }
}
