package io.elasticmoe.operator.rendezvous.core;

import java.util.Collections;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * What is persisted before it is announced (the fencing record): the epoch, who holds each rank in it
 * and the placement version planned for it. A new operator leader resumes from exactly this.
 *
 * @param members rank → holder, sorted by rank
 */
public record CommittedState(long epoch, SortedMap<Integer, CommittedMember> members, long placementVersion) {

  public static final CommittedState NONE = new CommittedState(0, new TreeMap<>(), 0);

  public CommittedState {
    members = Collections.unmodifiableSortedMap(new TreeMap<>(members));
    if (epoch < 0 || placementVersion < 0) {
      throw new IllegalArgumentException(
          "epoch " + epoch + " and placementVersion " + placementVersion + " must not be negative");
    }
  }

  public static CommittedState of(long epoch, List<CommittedMember> members, long placementVersion) {
    SortedMap<Integer, CommittedMember> byRank = new TreeMap<>();
    for (CommittedMember m : members) {
      if (byRank.put(m.rank(), m) != null) {
        throw new IllegalArgumentException("rank " + m.rank() + " appears twice in epoch " + epoch);
      }
    }
    return new CommittedState(epoch, byRank, placementVersion);
  }

  public List<Integer> activeRanks() {
    return List.copyOf(members.keySet());
  }

  public int worldSize() {
    return members.size();
  }
}
