package io.elasticmoe.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.elasticmoe.placement.RebalancePolicy.Decision;
import io.elasticmoe.placement.RebalancePolicy.Observation;
import io.elasticmoe.placement.RebalancePolicy.Reason;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class RebalancePolicyTest {

  private static final Duration INTERVAL = Duration.ofMinutes(5);
  private final RebalancePolicy policy = new RebalancePolicy(INTERVAL, 1.3, 0.1);

  private static Observation observe(
      boolean membershipChanged, Duration since, double imbalance, boolean armed) {
    return new Observation(membershipChanged, since, imbalance, armed);
  }

  @Test
  void replansOnAMembershipChangeEvenRightAfterAPlan() {
    Decision decision = policy.decide(observe(true, Duration.ZERO, 1.0, false));

    assertThat(decision.rebalance()).isTrue();
    assertThat(decision.reason()).isEqualTo(Reason.MembershipChanged);
    assertThat(decision.armed()).isTrue();
  }

  @Test
  void keepsThePlanUntilTheIntervalHasElapsed() {
    Decision decision = policy.decide(observe(false, INTERVAL.minusSeconds(1), 3.0, true));

    assertThat(decision.rebalance()).isFalse();
    assertThat(decision.reason()).isEqualTo(Reason.IntervalNotElapsed);
    assertThat(decision.armed()).isTrue();
    assertThat(decision.message()).isEqualTo("last plan PT4M59S ago, interval PT5M");
  }

  @Test
  void replansAndDisarmsWhenArmedAndImbalanceReachesTheThreshold() {
    Decision decision = policy.decide(observe(false, INTERVAL, 1.3, true));

    assertThat(decision.rebalance()).isTrue();
    assertThat(decision.reason()).isEqualTo(Reason.ImbalanceAboveThreshold);
    assertThat(decision.armed()).isFalse();
    assertThat(decision.message()).isEqualTo("imbalance 1.3 >= threshold 1.3: re-plan");
  }

  @Test
  void holdsWhenDisarmedAndImbalanceHoversAroundTheThreshold() {
    Decision decision = policy.decide(observe(false, INTERVAL.multipliedBy(3), 1.35, false));

    assertThat(decision.rebalance()).isFalse();
    assertThat(decision.reason()).isEqualTo(Reason.HeldByHysteresis);
    assertThat(decision.armed()).isFalse();
  }

  @Test
  void replansWhenDisarmedButImbalanceIsFarAboveTheThreshold() {
    Decision decision = policy.decide(observe(false, INTERVAL, 1.45, false));

    assertThat(decision.rebalance()).isTrue();
    assertThat(decision.reason()).isEqualTo(Reason.ImbalanceFarAboveThreshold);
    assertThat(decision.armed()).isFalse();
  }

  @Test
  void rearmsOnceImbalanceFallsToTheThresholdMinusHysteresis() {
    Decision decision = policy.decide(observe(false, INTERVAL, 1.2, false));

    assertThat(decision.rebalance()).isFalse();
    assertThat(decision.reason()).isEqualTo(Reason.Balanced);
    assertThat(decision.armed()).isTrue();
  }

  @Test
  void keepsABalancedWorldArmed() {
    Decision decision = policy.decide(observe(false, INTERVAL, 1.25, true));

    assertThat(decision.rebalance()).isFalse();
    assertThat(decision.reason()).isEqualTo(Reason.Balanced);
    assertThat(decision.armed()).isTrue();
  }

  @Test
  void measuresImbalanceAsMaxOverMean() {
    assertThat(RebalancePolicy.imbalance(new double[] {30, 10, 10, 10})).isEqualTo(2.0);
    assertThat(RebalancePolicy.imbalance(new double[] {0, 0})).isEqualTo(1.0);
    assertThat(RebalancePolicy.imbalance(new double[] {0.1, 0.1, 0.1})).isEqualTo(1.0);
  }

  @Test
  void rejectsANegativeRankLoad() {
    assertThatThrownBy(() -> RebalancePolicy.imbalance(new double[] {1, -2}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("loadPerRank[1] is -2.0; loads must be finite and non-negative");
  }

  @Test
  void rejectsAThresholdBelowOne() {
    assertThatThrownBy(() -> new RebalancePolicy(INTERVAL, 0.9, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "imbalanceThreshold is 0.9; it must be finite and at least 1 (max/mean load is never"
                + " below 1)");
  }

  @Test
  void rejectsHysteresisThatWouldNeverRearm() {
    assertThatThrownBy(() -> new RebalancePolicy(INTERVAL, 1.25, 0.5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "hysteresis is 0.5; it must be in [0, imbalanceThreshold - 1 = 0.25] so that a balanced"
                + " world re-arms the trigger");
  }

  @Test
  void rejectsAnImbalanceBelowOne() {
    assertThatThrownBy(() -> observe(false, INTERVAL, 0.5, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("imbalance is 0.5; max/mean load is finite and at least 1");
  }
}
