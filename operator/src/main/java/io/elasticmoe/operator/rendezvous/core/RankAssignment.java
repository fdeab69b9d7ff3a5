package io.elasticmoe.operator.rendezvous.core;

import java.util.List;

/** The assignment one rank's pod receives on Watch. */
public record RankAssignment(
    long epoch,
    int rank,
    List<Integer> activeRanks,
    int maxRanks,
    long placementVersion,
    RankDirective directive) {

  public RankAssignment {
    activeRanks = List.copyOf(activeRanks);
  }

  public int worldSize() {
    return activeRanks.size();
  }
}
