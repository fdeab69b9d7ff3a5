package io.elasticmoe.operator.rendezvous.core;

import java.time.Instant;
import java.util.Collections;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The whole membership of one deployment as plain data; {@link MembershipRules} computes the next one.
 *
 * @param config the reconciler's plan
 * @param committed the committed epoch (persisted)
 * @param ranks the pod currently holding each rank, committed or not
 * @param lastCallDeadline when a pending partial membership commits anyway; empty when nothing pends
 */
public record MembershipState(
    MembershipConfig config,
    CommittedState committed,
    SortedMap<Integer, RankRecord> ranks,
    Optional<Instant> lastCallDeadline) {

  public MembershipState {
    ranks = Collections.unmodifiableSortedMap(new TreeMap<>(ranks));
  }

  public static MembershipState initial(MembershipConfig config) {
    return new MembershipState(config, CommittedState.NONE, new TreeMap<>(), Optional.empty());
  }

  /**
   * The state a new operator leader starts from: the committed members count as live from {@code now},
   * so they get a full heartbeat timeout to re-attach before anyone is suspected.
   */
  public static MembershipState resumed(MembershipConfig config, CommittedState committed, Instant now) {
    SortedMap<Integer, RankRecord> ranks = new TreeMap<>();
    for (CommittedMember m : committed.members().values()) {
      ranks.put(
          m.rank(),
          new RankRecord(m.rank(), m.podUid(), m.podName(), m.nodeName(), now, RankPhase.LIVE, PodCondition.READY));
    }
    return new MembershipState(config, committed, ranks, Optional.empty());
  }

  public long epoch() {
    return committed.epoch();
  }

  MembershipState with(Map<Integer, RankRecord> nextRanks) {
    return new MembershipState(config, committed, new TreeMap<>(nextRanks), lastCallDeadline);
  }
}
