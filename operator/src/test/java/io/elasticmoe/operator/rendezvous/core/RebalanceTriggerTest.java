package io.elasticmoe.operator.rendezvous.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.elasticmoe.placement.RebalancePolicy;
import io.elasticmoe.placement.RebalancePolicy.Reason;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/**
 * The load trigger over generated report sequences: rounds of per-rank loads whose skew drifts, with the
 * clock moving between reports, replayed the way the placement channel does (a re-plan opens a new
 * window, a failed one restarts the cooldown).
 */
class RebalanceTriggerTest {
  private static final Instant T0 = Instant.parse("2026-11-30T00:00:00Z");
  private static final Duration INTERVAL = Duration.ofSeconds(60);
  private static final RebalancePolicy POLICY = new RebalancePolicy(INTERVAL, 1.3, 0.1);
  private static final List<Integer> RANKS = List.of(0, 2, 3, 5);

  @Test
  void asksThePolicyOnlyOnceEveryActiveRankReported() {
    RebalanceTrigger t = RebalanceTrigger.afterPlan(POLICY, RANKS, T0, true);
    Instant later = T0.plus(INTERVAL);
    t = t.withReport(0, 900).withReport(2, 100).withReport(3, 100);
    assertThat(t.evaluate(later)).as("rank 5 has not reported: it would count as idle").isEmpty();
    // Rank 1 is not in the placement's active set: its report changes nothing.
    assertThat(t.withReport(1, 5000).evaluate(later)).isEmpty();
    t = t.withReport(5, 100);
    RebalanceTrigger.Evaluation e = t.evaluate(later).orElseThrow();
    assertThat(e.imbalance()).isEqualTo(900.0 * 4 / 1200);
    assertThat(e.decision().rebalance()).isTrue();
    assertThat(e.decision().reason()).isEqualTo(Reason.ImbalanceAboveThreshold);
  }

  @Test
  void reportsAccumulateOverTheWindowSinceThePlan() {
    RebalanceTrigger t = RebalanceTrigger.afterPlan(POLICY, List.of(0, 1), T0, true)
        .withReport(0, 300).withReport(1, 100).withReport(1, 200);
    assertThat(t.imbalance()).isEqualTo(1.0);
    assertThat(t.evaluate(T0.plus(INTERVAL)).orElseThrow().decision().reason()).isEqualTo(Reason.Balanced);
  }

  @Test
  void aFailedAttemptRestartsTheCooldownAndKeepsWindowAndBit() {
    RebalanceTrigger t = RebalanceTrigger.afterPlan(POLICY, List.of(0, 1), T0, true)
        .withReport(0, 900).withReport(1, 100);
    Instant failedAt = T0.plus(INTERVAL);
    assertThat(t.evaluate(failedAt).orElseThrow().decision().rebalance()).isTrue();
    RebalanceTrigger after = t.afterFailedAttempt(failedAt);
    assertThat(after.armed()).isTrue();
    assertThat(after.imbalance()).isEqualTo(t.imbalance());
    assertThat(after.evaluate(failedAt.plus(INTERVAL).minusMillis(1)).orElseThrow().decision().reason())
        .isEqualTo(Reason.IntervalNotElapsed);
    assertThat(after.evaluate(failedAt.plus(INTERVAL)).orElseThrow().decision().rebalance()).isTrue();
  }

  @Test
  void keptRefusesADecisionToReplanAndNegativeTokensAreRefused() {
    RebalanceTrigger t = RebalanceTrigger.afterPlan(POLICY, List.of(0, 1), T0, true)
        .withReport(0, 900).withReport(1, 100);
    RebalancePolicy.Decision replan = t.evaluate(T0.plus(INTERVAL)).orElseThrow().decision();
    assertThatThrownBy(() -> t.kept(replan)).hasMessageContaining("adopt it with afterPlan");
    assertThatThrownBy(() -> t.withReport(0, -1))
        .hasMessage("rank 0 reported -1 tokens; token counts cannot be negative");
    assertThatThrownBy(() -> RebalanceTrigger.afterPlan(POLICY, List.of(), T0, true))
        .hasMessageContaining("at least one active rank");
  }

  @Test
  void loadHoveringAboveTheThresholdFiresOnceUntilBalancedOrFarWorse() {
    Instant now = T0.plus(INTERVAL);
    RebalanceTrigger t = RebalanceTrigger.afterPlan(POLICY, List.of(0, 1), T0, true)
        .withReport(0, 135).withReport(1, 65);
    RebalancePolicy.Decision first = t.evaluate(now).orElseThrow().decision();
    assertThat(first.reason()).isEqualTo(Reason.ImbalanceAboveThreshold);

    // The re-plan could not do better: 1.35 again, a window later. Held, however often it is asked.
    t = RebalanceTrigger.afterPlan(POLICY, List.of(0, 1), now, first.armed()).withReport(0, 135).withReport(1, 65);
    for (int i = 1; i <= 3; i++) {
      RebalancePolicy.Decision held = t.evaluate(now.plus(INTERVAL.multipliedBy(i))).orElseThrow().decision();
      assertThat(held.reason()).isEqualTo(Reason.HeldByHysteresis);
      t = t.kept(held);
    }
    // Clearly worse (1.45 >= 1.3 + 0.1) fires without re-arming.
    RebalanceTrigger worse = t.withReport(0, 155).withReport(1, 45);
    assertThat(worse.imbalance()).isGreaterThanOrEqualTo(1.4);
    assertThat(worse.evaluate(now.plus(INTERVAL.multipliedBy(4))).orElseThrow().decision().reason())
        .isEqualTo(Reason.ImbalanceFarAboveThreshold);

    // A balanced window (1.1 <= 1.2) re-arms; then 1.35 fires again.
    Instant later = now.plus(INTERVAL.multipliedBy(5));
    RebalanceTrigger balanced = RebalanceTrigger.afterPlan(POLICY, List.of(0, 1), later, false)
        .withReport(0, 110).withReport(1, 90);
    RebalancePolicy.Decision rearm = balanced.evaluate(later.plus(INTERVAL)).orElseThrow().decision();
    assertThat(rearm.armed()).isTrue();
    RebalanceTrigger rearmed = balanced.kept(rearm).withReport(0, 160);
    assertThat(rearmed.imbalance()).isEqualTo(270.0 * 2 / 360);
    assertThat(rearmed.evaluate(later.plus(INTERVAL)).orElseThrow().decision().reason())
        .isEqualTo(Reason.ImbalanceAboveThreshold);
  }

  /** One report: which active rank, the load skew of the current phase, how far the clock moves first. */
  record Report(int rankIndex, double hotShare, long advanceMillis, boolean persistFails) {}

  @Provide
  Arbitrary<List<Report>> sequences() {
    // The hot rank's share drifts in phases: balanced, near the threshold, far above it.
    Arbitrary<Double> share = Arbitraries.of(0.25, 0.27, 0.31, 0.33, 0.35, 0.5, 0.8);
    Arbitrary<Report> report = Combinators.combine(
            Arbitraries.integers().between(0, RANKS.size() - 1),
            share,
            Arbitraries.longs().between(0, 20_000),
            Arbitraries.of(false, false, false, false, true))
        .as(Report::new);
    return report.list().ofMinSize(50).ofMaxSize(400);
  }

  /** What the replay saw: every re-plan, with when and why, and the imbalances seen in between. */
  record Replan(Instant at, Reason reason, double imbalance, boolean rearmedBefore) {}

  @Property(tries = 2000)
  void cooldownAndHysteresisHoldOverGeneratedLoad(@ForAll("sequences") List<Report> reports) {
    RebalanceTrigger t = RebalanceTrigger.afterPlan(POLICY, RANKS, T0, true);
    Instant now = T0;
    Instant lastAttempt = T0;
    List<Replan> replans = new ArrayList<>();
    // Since the last load-driven re-plan: was an imbalance at or below the re-arm level seen?
    boolean rearmed = true;
    double rearmLevel = POLICY.imbalanceThreshold() - POLICY.hysteresis();
    for (Report r : reports) {
      now = now.plusMillis(r.advanceMillis());
      int rank = RANKS.get(r.rankIndex());
      // The first active rank is the hot one: it gets hotShare of the tokens, the others share the rest.
      long tokens = Math.round(1000 * (rank == RANKS.get(0) ? r.hotShare() * 4 : (1 - r.hotShare()) * 4 / 3));
      t = t.withReport(rank, tokens);
      Optional<RebalanceTrigger.Evaluation> e = t.evaluate(now);
      if (e.isEmpty()) {
        continue;
      }
      RebalancePolicy.Decision d = e.get().decision();
      if (!d.rebalance()) {
        if (d.reason() != Reason.IntervalNotElapsed && e.get().imbalance() <= rearmLevel) {
          rearmed = true;
        }
        t = t.kept(d);
        assertThat(t.armed()).isEqualTo(d.armed());
        continue;
      }
      // A re-plan fires only after the cooldown since the last plan or failed attempt.
      assertThat(Duration.between(lastAttempt, now)).isGreaterThanOrEqualTo(INTERVAL);
      assertThat(e.get().imbalance()).isGreaterThanOrEqualTo(POLICY.imbalanceThreshold());
      replans.add(new Replan(now, d.reason(), e.get().imbalance(), rearmed));
      lastAttempt = now;
      if (r.persistFails()) {
        t = t.afterFailedAttempt(now);
        continue;
      }
      rearmed = false;
      t = RebalanceTrigger.afterPlan(POLICY, RANKS, now, d.armed());
    }
    for (Replan p : replans) {
      // Hysteresis: without a balanced sighting since the last re-plan, only a clearly worse world fires.
      if (p.rearmedBefore()) {
        assertThat(p.reason()).as("re-plan at %s", p.at()).isEqualTo(Reason.ImbalanceAboveThreshold);
      } else {
        assertThat(p.reason()).as("re-plan at %s", p.at()).isEqualTo(Reason.ImbalanceFarAboveThreshold);
        assertThat(p.imbalance()).isGreaterThanOrEqualTo(POLICY.imbalanceThreshold() + POLICY.hysteresis());
      }
    }
  }

  @Property(tries = 200)
  void aSkewedWorldReplansAtMostOncePerInterval(@ForAll("sequences") List<Report> reports) {
    // Every report far above the threshold: the trigger may fire on every window, never faster.
    RebalanceTrigger t = RebalanceTrigger.afterPlan(POLICY, RANKS, T0, true);
    Instant now = T0;
    List<Instant> fired = new ArrayList<>();
    for (Report r : reports) {
      now = now.plusMillis(r.advanceMillis());
      int rank = RANKS.get(r.rankIndex());
      t = t.withReport(rank, rank == RANKS.get(0) ? 4000 : 100);
      Optional<RebalanceTrigger.Evaluation> e = t.evaluate(now);
      if (e.isPresent() && e.get().decision().rebalance()) {
        fired.add(now);
        t = RebalanceTrigger.afterPlan(POLICY, RANKS, now, e.get().decision().armed());
      } else if (e.isPresent()) {
        t = t.kept(e.get().decision());
      }
    }
    for (int i = 1; i < fired.size(); i++) {
      assertThat(Duration.between(fired.get(i - 1), fired.get(i))).isGreaterThanOrEqualTo(INTERVAL);
    }
  }
}
