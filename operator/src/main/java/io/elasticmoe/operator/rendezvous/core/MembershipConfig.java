package io.elasticmoe.operator.rendezvous.core;

import java.time.Duration;
import java.util.Objects;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * The reconciler's plan for membership.
 *
 * @param plannedRanks ranks that should be members (sorted, each in {@code [0, maxRanks)})
 * @param minAvailableRanks fewest ranks an epoch may commit with
 * @param maxRanks buffer capacity in ranks, fixed for the world
 * @param heartbeatTimeout silence after which a rank is suspected (interval × missed threshold)
 * @param joinTimeout last call: how long a partial membership waits for the missing planned ranks
 */
public record MembershipConfig(
    SortedSet<Integer> plannedRanks,
    int minAvailableRanks,
    int maxRanks,
    Duration heartbeatTimeout,
    Duration joinTimeout) {

  public MembershipConfig {
    plannedRanks = java.util.Collections.unmodifiableSortedSet(new TreeSet<>(plannedRanks));
    Objects.requireNonNull(heartbeatTimeout, "heartbeatTimeout");
    Objects.requireNonNull(joinTimeout, "joinTimeout");
    if (maxRanks < 1) {
      throw new IllegalArgumentException("maxRanks is " + maxRanks + "; it must be at least 1");
    }
    for (int rank : plannedRanks) {
      if (rank < 0 || rank >= maxRanks) {
        throw new IllegalArgumentException(
            "planned rank " + rank + " is outside [0, maxRanks = " + maxRanks + ")");
      }
    }
    if (minAvailableRanks < 1 || minAvailableRanks > maxRanks) {
      throw new IllegalArgumentException(
          "minAvailableRanks is " + minAvailableRanks + "; it must be in [1, maxRanks = " + maxRanks + "]");
    }
    if (heartbeatTimeout.isNegative() || heartbeatTimeout.isZero()) {
      throw new IllegalArgumentException(
          "heartbeatTimeout is " + heartbeatTimeout + "; it must be positive");
    }
    if (joinTimeout.isNegative()) {
      throw new IllegalArgumentException("joinTimeout is " + joinTimeout + "; it must not be negative");
    }
  }
}
