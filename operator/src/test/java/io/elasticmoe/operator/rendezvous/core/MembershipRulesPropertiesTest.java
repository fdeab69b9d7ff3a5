package io.elasticmoe.operator.rendezvous.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Heartbeat;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Join;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Leave;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.PeerFailure;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.PodState;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Replan;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Tick;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;

/**
 * Thousands of generated event sequences (joins, heartbeats, leaves, peer reports, pod-watch events,
 * clock ticks and re-plans) checked against the membership invariants after every step.
 */
class MembershipRulesPropertiesTest {
  private static final int MAX_RANKS = 8;
  private static final Instant T0 = Instant.parse("2026-11-29T00:00:00Z");

  /** One generated input: an event template plus how far the clock moves before it. */
  record Step(long advanceMillis, Kind kind, int rank, int generation, int otherRank, boolean staleEpoch,
      PodCondition condition, Set<Integer> planned, int minAvailable) {}

  enum Kind { JOIN, HEARTBEAT, LEAVE, PEER_FAILURE, POD_STATE, TICK, REPLAN }

  static String uid(int rank, int generation) {
    return "pod-" + rank + "-" + generation;
  }

  @Provide
  Arbitrary<List<Step>> sequences() {
    Arbitrary<Step> step =
        Combinators.combine(
                // Mostly well below the 6 s heartbeat timeout, so ranks live long enough to commit.
                Arbitraries.longs().between(0, 400),
                // Weighted towards joins and heartbeats so that most sequences commit several epochs.
                Arbitraries.frequency(
                    Tuple.of(30, Kind.JOIN), Tuple.of(25, Kind.HEARTBEAT), Tuple.of(10, Kind.TICK),
                    Tuple.of(10, Kind.POD_STATE), Tuple.of(5, Kind.LEAVE), Tuple.of(10, Kind.PEER_FAILURE),
                    Tuple.of(5, Kind.REPLAN)),
                Arbitraries.frequency(Tuple.of(90, 0), Tuple.of(5, 1), Tuple.of(5, 2))
                    .flatMap(far -> Arbitraries.integers().between(0, far == 0 ? 5 : MAX_RANKS)),
                Arbitraries.integers().between(0, 1),
                Arbitraries.integers().between(0, MAX_RANKS - 1),
                Arbitraries.of(true, false, false, false, false),
                Arbitraries.of(PodCondition.class),
                Arbitraries.integers().between(0, 5).set().ofMinSize(1))
            .as((adv, kind, rank, gen, other, stale, cond, planned) ->
                new Step(adv, kind, rank, gen, other, stale, cond, planned, 1 + (rank % 3)));
    // Long enough for several epochs: short lists rarely get all planned ranks in.
    return step.list().ofMinSize(40).ofMaxSize(150);
  }

  @Property(tries = 3000)
  void membershipInvariantsHoldAfterEveryEvent(@ForAll("sequences") List<Step> steps) {
    MembershipConfig initial =
        new MembershipConfig(new TreeSet<>(List.of(0, 1, 2, 3)), 2, MAX_RANKS, Duration.ofSeconds(6),
            Duration.ofSeconds(10));
    MembershipState state = MembershipState.initial(initial);
    Instant now = T0;
    Set<String> joinedPairs = new HashSet<>();
    int commits = 0;
    for (Step step : steps) {
      now = now.plusMillis(step.advanceMillis());
      MembershipEvent event = toEvent(step, state);
      MembershipDecision decision;
      try {
        decision = MembershipRules.apply(state, event, now);
      } catch (MembershipException rejected) {
        continue; // a rejected call changes nothing: the state object is kept as it was
      }
      if (event instanceof Join join) {
        joinedPairs.add(join.rank() + "/" + join.podUid());
      }
      MembershipState next = decision.next();
      checkInvariants(state, next, decision, event, joinedPairs);
      commits += decision.commit().isPresent() ? 1 : 0;
      state = next;
    }
    // The invariants are only worth something if sequences do commit epochs.
    Statistics.label("committed").collect(commits > 1);
    Statistics.label("committed")
        .coverage(coverage -> coverage.check(true).percentage(p -> p > 25.0));
  }

  private static MembershipEvent toEvent(Step s, MembershipState state) {
    long epoch = s.staleEpoch() ? state.epoch() + 1 : state.epoch();
    String uid = uid(s.rank(), s.generation());
    return switch (s.kind()) {
      case JOIN -> new Join(s.rank(), uid, "pod-" + s.rank(), "node-" + s.rank() % 3);
      case HEARTBEAT -> new Heartbeat(s.rank(), uid);
      case LEAVE -> new Leave(s.rank(), uid, epoch);
      case PEER_FAILURE -> new PeerFailure(s.rank(), uid, epoch, s.otherRank());
      case POD_STATE -> new PodState(s.rank(), uid, s.condition());
      case TICK -> new Tick();
      case REPLAN ->
          new Replan(new MembershipConfig(new TreeSet<>(s.planned()), Math.min(s.minAvailable(), MAX_RANKS),
              MAX_RANKS, Duration.ofSeconds(6), Duration.ofSeconds(10)));
    };
  }

  private static void checkInvariants(MembershipState before, MembershipState after,
      MembershipDecision decision, MembershipEvent event, Set<String> joinedPairs) {
    // The state never moves backwards, and only a commit moves it forward, by exactly one.
    if (decision.commit().isEmpty()) {
      assertThat(after.committed()).isEqualTo(before.committed());
      return;
    }
    CommittedState c = decision.commit().get();
    assertThat(after.committed()).isEqualTo(c);
    assertThat(c.epoch()).as("epochs strictly increase").isEqualTo(before.epoch() + 1);
    assertThat(c.placementVersion()).isGreaterThan(before.committed().placementVersion());
    assertThat(c.worldSize()).as("no commit below minAvailableRanks").isGreaterThanOrEqualTo(
        after.config().minAvailableRanks());
    Set<String> uids = new HashSet<>();
    for (CommittedMember m : c.members().values()) {
      assertThat(uids.add(m.podUid())).as("one rank per pod in epoch %d", c.epoch()).isTrue();
      assertThat(joinedPairs).as("sticky: %s holds the rank it joined with", m.podUid())
          .contains(m.rank() + "/" + m.podUid());
      RankRecord r = after.ranks().get(m.rank());
      assertThat(r.podUid()).isEqualTo(m.podUid());
      assertThat(r.phase()).as("a lost or departed rank is never committed")
          .isNotIn(RankPhase.LOST, RankPhase.LEFT);
    }
    if (event instanceof Leave leave) {
      // A drain disturbs nobody else: every other member that is still there keeps rank and pod.
      for (CommittedMember old : before.committed().members().values()) {
        RankRecord r = after.ranks().get(old.rank());
        boolean stillServing = old.rank() != leave.rank() && r.podUid().equals(old.podUid())
            && r.phase() != RankPhase.LOST && r.phase() != RankPhase.LEFT;
        if (stillServing) {
          assertThat(c.members().get(old.rank())).isEqualTo(old);
        }
      }
      assertThat(c.members()).doesNotContainKey(leave.rank());
    }
  }
}
