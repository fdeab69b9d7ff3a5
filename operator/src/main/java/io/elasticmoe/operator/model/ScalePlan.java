package io.elasticmoe.operator.model;

import java.util.List;
import java.util.SortedSet;

/**
 * Which ranks should exist after this reconcile, and what to change to get there.
 *
 * @param plannedRanks the ranks the rendezvous plans the next epoch for (sorted)
 * @param ranksToCreate planned ranks without a pod
 * @param ranksToRemove ranks with a pod that are no longer planned
 * @param blockedMessage why the requested replicas were not applied in full, or null when they were
 */
public record ScalePlan(
    SortedSet<Integer> plannedRanks,
    List<Integer> ranksToCreate,
    List<Integer> ranksToRemove,
    String blockedMessage) {

  public boolean blocked() {
    return blockedMessage != null;
  }
}
