package io.elasticmoe.operator.rendezvous.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Heartbeat;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Join;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Leave;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.PeerFailure;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.PodState;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Replan;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Tick;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class MembershipRulesTest {
  private static final Instant T0 = Instant.parse("2026-11-29T00:00:00Z");
  private static final Duration HEARTBEAT_TIMEOUT = Duration.ofSeconds(6);
  private static final Duration JOIN_TIMEOUT = Duration.ofSeconds(120);

  private static MembershipConfig config(int min, Integer... planned) {
    return new MembershipConfig(
        new TreeSet<>(List.of(planned)), min, 8, HEARTBEAT_TIMEOUT, JOIN_TIMEOUT);
  }

  private static String uid(int rank) {
    return "uid-" + rank;
  }

  private static Join join(int rank) {
    return new Join(rank, uid(rank), "pod-" + rank, "node-" + rank % 2);
  }

  private static MembershipState apply(MembershipState s, MembershipEvent e, Instant at) {
    return MembershipRules.apply(s, e, at).next();
  }

  /** Ranks 0..3 planned, all joined and committed as epoch 1. */
  private static MembershipState fourRanksCommitted() {
    MembershipState s = MembershipState.initial(config(2, 0, 1, 2, 3));
    for (int r = 0; r < 4; r++) {
      s = apply(s, join(r), T0);
    }
    assertThat(s.epoch()).isEqualTo(1);
    return s;
  }

  @Test
  void commitsAsSoonAsEveryPlannedRankHasJoined() {
    MembershipState s = MembershipState.initial(config(2, 0, 1, 2));
    s = apply(s, join(0), T0);
    s = apply(s, join(1), T0);
    assertThat(s.epoch()).isZero();
    MembershipDecision d = MembershipRules.apply(s, join(2), T0.plusMillis(5));
    assertThat(d.commit()).isPresent();
    assertThat(d.commit().get().epoch()).isEqualTo(1);
    assertThat(d.commit().get().activeRanks()).containsExactly(0, 1, 2);
    assertThat(d.next().lastCallDeadline()).isEmpty();
  }

  @Test
  void commitsAPartialWorldAtTheLastCallDeadlineWhenMinAvailableJoined() {
    MembershipState s = MembershipState.initial(config(2, 0, 1, 2));
    s = apply(s, join(0), T0);
    s = apply(s, join(1), T0.plusSeconds(1));
    assertThat(s.lastCallDeadline()).contains(T0.plusSeconds(1).plus(JOIN_TIMEOUT));
    Instant deadline = T0.plusSeconds(1).plus(JOIN_TIMEOUT);
    s = apply(s, new Heartbeat(0, uid(0)), deadline.minusSeconds(1));
    s = apply(s, new Heartbeat(1, uid(1)), deadline.minusSeconds(1));
    s = apply(s, new Tick(), deadline.minusMillis(1));
    assertThat(s.epoch()).isZero();
    MembershipDecision d = MembershipRules.apply(s, new Tick(), T0.plusSeconds(1).plus(JOIN_TIMEOUT));
    assertThat(d.commit().map(CommittedState::activeRanks)).contains(List.of(0, 1));
  }

  @Test
  void neverCommitsBelowMinAvailableEvenAfterTheDeadline() {
    MembershipState s = MembershipState.initial(config(2, 0, 1, 2));
    s = apply(s, join(0), T0);
    MembershipDecision d = MembershipRules.apply(s, new Tick(), T0.plus(JOIN_TIMEOUT).plusSeconds(1));
    assertThat(d.commit()).isEmpty();
    assertThat(d.next().lastCallDeadline()).isEmpty();
  }

  @Test
  void rejectsJoinBeyondMaxRanks() {
    MembershipState s = MembershipState.initial(config(1, 0));
    WorldFullException e =
        assertThrows(WorldFullException.class, () -> MembershipRules.apply(s, join(8), T0));
    assertThat(e).hasMessage("rank 8 does not fit the world: ranks are 0..7 (maxRanks 8)");
  }

  @Test
  void rejectsJoinOfARankThatIsNotPlanned() {
    MembershipState s = MembershipState.initial(config(1, 0, 1));
    RankNotPlannedException e =
        assertThrows(RankNotPlannedException.class, () -> MembershipRules.apply(s, join(5), T0));
    assertThat(e).hasMessage("rank 5 is not planned; planned ranks are [0, 1]");
  }

  @Test
  void rejectsOnePodHoldingTwoRanks() {
    MembershipState s = apply(MembershipState.initial(config(1, 0, 1)), join(0), T0);
    PodUidInUseException e =
        assertThrows(
            PodUidInUseException.class,
            () -> MembershipRules.apply(s, new Join(1, uid(0), "pod-0", "n"), T0));
    assertThat(e).hasMessage("pod uid-0 holds rank 0; it cannot join as rank 1");
  }

  @Test
  void reattachOfTheCommittedPodDoesNotStartANewEpoch() {
    MembershipState s = fourRanksCommitted();
    MembershipDecision d = MembershipRules.apply(s, join(2), T0.plusSeconds(3));
    assertThat(d.commit()).isEmpty();
    assertThat(d.next().epoch()).isEqualTo(1);
  }

  @Test
  void missedHeartbeatsOnlySuspectARankWhosePodIsReady() {
    MembershipState s = fourRanksCommitted();
    for (int r = 0; r < 3; r++) {
      s = apply(s, new Heartbeat(r, uid(r)), T0.plusSeconds(5));
    }
    MembershipDecision d = MembershipRules.apply(s, new Tick(), T0.plus(HEARTBEAT_TIMEOUT));
    assertThat(d.next().ranks().get(3).phase()).isEqualTo(RankPhase.SUSPECTED);
    assertThat(d.commit()).as("a suspect stays a member").isEmpty();
  }

  @Test
  void aSuspectIsDeclaredLostOnceItsPodIsNotReadyAndANewEpochDropsIt() {
    MembershipState s = apply(fourRanksCommitted(), new Tick(), T0.plus(HEARTBEAT_TIMEOUT));
    MembershipDecision d =
        MembershipRules.apply(s, new PodState(3, uid(3), PodCondition.NOT_READY), T0.plusSeconds(7));
    assertThat(d.next().ranks().get(3).phase()).isEqualTo(RankPhase.LOST);
    assertThat(d.commit().map(CommittedState::activeRanks)).contains(List.of(0, 1, 2));
    assertThat(d.commit().get().epoch()).isEqualTo(2);
  }

  @Test
  void aHeartbeatClearsSuspicion() {
    MembershipState s = apply(fourRanksCommitted(), new Tick(), T0.plus(HEARTBEAT_TIMEOUT));
    s = apply(s, new Heartbeat(3, uid(3)), T0.plusSeconds(7));
    assertThat(s.ranks().get(3).phase()).isEqualTo(RankPhase.LIVE);
    s = apply(s, new PodState(3, uid(3), PodCondition.NOT_READY), T0.plusSeconds(8));
    assertThat(s.ranks().get(3).phase()).as("not suspected, so NotReady alone is no loss").isEqualTo(RankPhase.LIVE);
  }

  @Test
  void aGonePodIsLostAtOnce() {
    MembershipDecision d =
        MembershipRules.apply(fourRanksCommitted(), new PodState(1, uid(1), PodCondition.GONE), T0);
    assertThat(d.commit().map(CommittedState::activeRanks)).contains(List.of(0, 2, 3));
  }

  @Test
  void aPodEventAboutAnOlderPodOfTheRankIsIgnored() {
    MembershipState s = fourRanksCommitted();
    MembershipDecision d =
        MembershipRules.apply(s, new PodState(1, "older-uid", PodCondition.GONE), T0);
    assertThat(d.next()).isEqualTo(s);
  }

  @Test
  void aPeerReportSuspectsAndTheLostRankRejoinsWithItsStickyRank() {
    MembershipState s = fourRanksCommitted();
    s = apply(s, new PeerFailure(0, uid(0), 1, 2), T0);
    assertThat(s.ranks().get(2).phase()).isEqualTo(RankPhase.SUSPECTED);
    s = apply(s, new PodState(2, uid(2), PodCondition.GONE), T0);
    assertThat(s.epoch()).isEqualTo(2);
    assertThat(MembershipRules.assignmentFor(s, 2, uid(2)).map(RankAssignment::directive))
        .contains(RankDirective.REJOIN);
    MembershipDecision d =
        MembershipRules.apply(s, new Join(2, "replacement", "pod-2", "node-0"), T0.plusSeconds(1));
    assertThat(d.commit().get().epoch()).isEqualTo(3);
    assertThat(d.commit().get().members().get(2).podUid()).isEqualTo("replacement");
    assertThat(MembershipRules.assignmentFor(d.next(), 2, uid(2)).map(RankAssignment::directive))
        .as("the old pod is fenced out")
        .contains(RankDirective.EXIT);
  }

  @Test
  void aStaleEpochIsRejectedWithBothEpochs() {
    MembershipState s = fourRanksCommitted();
    StaleEpochException e =
        assertThrows(
            StaleEpochException.class, () -> MembershipRules.apply(s, new Leave(1, uid(1), 0), T0));
    assertThat(e).hasMessage("epoch 0 is stale; the committed epoch is 1");
  }

  @Test
  void aCallFromAPodThatDoesNotHoldTheRankIsRejected() {
    MembershipState s = fourRanksCommitted();
    NotRankHolderException e =
        assertThrows(
            NotRankHolderException.class,
            () -> MembershipRules.apply(s, new Heartbeat(1, "intruder"), T0));
    assertThat(e).hasMessage("pod intruder does not hold rank 1; pod uid-1 does");
  }

  @Test
  void scaleDownDrainsTheRemovedRankAndItsLeaveRemovesOnlyIt() {
    MembershipState s = apply(fourRanksCommitted(), new Replan(config(2, 0, 1, 2)), T0);
    assertThat(s.epoch()).as("draining ranks keep serving").isEqualTo(1);
    assertThat(MembershipRules.assignmentFor(s, 3, uid(3)).map(RankAssignment::directive))
        .contains(RankDirective.DRAIN);
    MembershipDecision d = MembershipRules.apply(s, new Leave(3, uid(3), 1), T0.plusSeconds(1));
    CommittedState c = d.commit().orElseThrow();
    assertThat(c.activeRanks()).containsExactly(0, 1, 2);
    for (int r = 0; r < 3; r++) {
      assertThat(c.members().get(r)).isEqualTo(s.committed().members().get(r));
    }
    assertThat(MembershipRules.assignmentFor(d.next(), 3, uid(3)).map(RankAssignment::directive))
        .contains(RankDirective.EXIT);
    assertThrows(
        RankNotPlannedException.class,
        () -> MembershipRules.apply(d.next(), new Join(3, "new", "p", "n"), T0));
  }

  @Test
  void aDrainingRankCannotBeTakenByANewPod() {
    MembershipState s = apply(fourRanksCommitted(), new Replan(config(2, 0, 1, 2)), T0);
    RankDrainingException e =
        assertThrows(
            RankDrainingException.class,
            () -> MembershipRules.apply(s, new Join(3, "new", "p", "n"), T0));
    assertThat(e).hasMessage("rank 3 is draining; it cannot join until the drain ends");
  }

  @Test
  void scaleUpCommitsWhenTheNewRankJoins() {
    MembershipState s = apply(fourRanksCommitted(), new Replan(config(2, 0, 1, 2, 3, 4)), T0);
    assertThat(s.epoch()).isEqualTo(1);
    MembershipDecision d = MembershipRules.apply(s, join(4), T0.plusSeconds(2));
    assertThat(d.commit().map(CommittedState::activeRanks)).contains(List.of(0, 1, 2, 3, 4));
  }

  @Test
  void aResumedStateKeepsTheEpochAndReattachesWithoutANewOne() {
    CommittedState persisted = fourRanksCommitted().committed();
    MembershipState s = MembershipState.resumed(config(2, 0, 1, 2, 3), persisted, T0.plusSeconds(60));
    for (int r = 0; r < 4; r++) {
      MembershipDecision d = MembershipRules.apply(s, join(r), T0.plusSeconds(61));
      assertThat(d.commit()).isEmpty();
      s = d.next();
    }
    assertThat(s.committed()).isEqualTo(persisted);
    assertThat(MembershipRules.assignmentFor(s, 1, uid(1)))
        .contains(new RankAssignment(1, 1, List.of(0, 1, 2, 3), 8, 1, RankDirective.RUN));
  }

  @Test
  void theNextDeadlineIsTheEarliestHeartbeatExpiryOrLastCall() {
    MembershipState s = MembershipState.initial(config(1, 0, 1));
    s = apply(s, join(0), T0);
    // one joined of two: last call pending at T0 + 120 s, heartbeat expiry at T0 + 6 s
    assertThat(MembershipRules.nextDeadline(s)).contains(T0.plus(HEARTBEAT_TIMEOUT));
    assertThat(MembershipRules.nextDeadline(MembershipState.initial(config(1, 0)))).isEqualTo(Optional.empty());
  }

  @Test
  void aPlacementRevisionKeepsEpochAndMembersAndCommitsTheNextVersion() {
    MembershipState s = fourRanksCommitted();
    MembershipDecision d = MembershipRules.revisePlacement(s, 1, 1);
    CommittedState revised = d.commit().orElseThrow();
    assertThat(revised.epoch()).isEqualTo(1);
    assertThat(revised.placementVersion()).isEqualTo(2);
    assertThat(revised.members()).isEqualTo(s.committed().members());
    assertThat(d.next().committed()).isEqualTo(revised);
    assertThat(d.next().ranks()).isEqualTo(s.ranks());
    assertThat(MembershipRules.assignmentFor(d.next(), 2, uid(2)).orElseThrow().placementVersion()).isEqualTo(2);
    // The next epoch continues from the revised version.
    MembershipState next = apply(d.next(), new Leave(3, uid(3), 1), T0);
    assertThat(next.committed().epoch()).isEqualTo(2);
    assertThat(next.committed().placementVersion()).isEqualTo(3);
  }

  @Test
  void aPlacementRevisionDecidedOnAnOlderEpochOrVersionCommitsNothing() {
    MembershipState s = fourRanksCommitted();
    assertThat(MembershipRules.revisePlacement(s, 0, 1).commit()).isEmpty();
    assertThat(MembershipRules.revisePlacement(s, 1, 0).commit()).isEmpty();
    assertThat(MembershipRules.revisePlacement(s, 1, 0).next()).isEqualTo(s);
    MembershipState none = MembershipState.initial(config(2, 0, 1));
    assertThat(MembershipRules.revisePlacement(none, 0, 0).commit()).as("no epoch committed yet").isEmpty();
  }
}
