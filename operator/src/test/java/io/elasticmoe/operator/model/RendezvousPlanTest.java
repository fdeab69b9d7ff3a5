package io.elasticmoe.operator.model;

import static org.assertj.core.api.Assertions.assertThat;

import static org.assertj.core.api.Assertions.within;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentSpec;
import io.elasticmoe.api.v1alpha1.PlacementSpec;
import io.elasticmoe.operator.rendezvous.RendezvousSpec;
import io.elasticmoe.placement.RebalancePolicy;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RendezvousPlanTest {
  static final String SHA = "a".repeat(64);

  @Test
  void carriesPlannedRanksTimingAndPlacementShape() {
    ElasticMoEDeploymentSpec spec = SpecValidatorTest.validSpec();
    spec.rendezvous = new io.elasticmoe.api.v1alpha1.RendezvousSpec();
    spec.rendezvous.heartbeatInterval = "500ms";
    spec.rendezvous.missedHeartbeatThreshold = 4;
    spec.rendezvous.joinTimeout = "30s";
    ScalePlan plan = ScalePlanner.plan(spec, Set.of(0, 1));

    RendezvousSpec rendezvous = RendezvousPlan.fromSpec(spec, plan, SHA, Map.of(0, "zone-a", 1, "zone-b"));

    assertThat(rendezvous.plannedRanks()).containsExactly(0, 1, 2, 3);
    assertThat(rendezvous.minAvailableRanks()).isEqualTo(2);
    assertThat(rendezvous.maxRanks()).isEqualTo(8);
    assertThat(rendezvous.heartbeatInterval()).isEqualTo(Duration.ofMillis(500));
    assertThat(rendezvous.heartbeatTimeout()).isEqualTo(Duration.ofSeconds(2));
    assertThat(rendezvous.joinTimeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(rendezvous.placement().numLogicalExperts()).isEqualTo(8);
    assertThat(rendezvous.placement().numPhysicalExperts()).isEqualTo(32);
    assertThat(rendezvous.placement().numGroups()).isEqualTo(4);
    // One domain per rank of maxRanks; a rank without a scheduled pod is a domain of its own.
    assertThat(rendezvous.placement().rankFailureDomains()).containsExactly("zone-a", "zone-b",
        "unscheduled-rank-2", "unscheduled-rank-3", "unscheduled-rank-4", "unscheduled-rank-5",
        "unscheduled-rank-6", "unscheduled-rank-7");
  }

  @Test
  void noKnownDomainsDisablesSpreading() {
    ElasticMoEDeploymentSpec spec = SpecValidatorTest.validSpec();
    RendezvousSpec rendezvous = RendezvousPlan.fromSpec(spec, ScalePlanner.plan(spec, Set.of()), SHA, Map.of());
    assertThat(rendezvous.placement().rankFailureDomains()).isEmpty();
    assertThat(rendezvous.heartbeatInterval()).isEqualTo(Duration.ofSeconds(2));
  }

  @Test
  void rebalancePolicyComesFromSpecPlacementWithTheCrdDefaults() {
    ElasticMoEDeploymentSpec spec = SpecValidatorTest.validSpec();
    RendezvousSpec defaults = RendezvousPlan.fromSpec(spec, ScalePlanner.plan(spec, Set.of()), SHA, Map.of());
    assertThat(defaults.placement().rebalance()).isEqualTo(new RebalancePolicy(Duration.ofSeconds(60), 1.2, 0.05));

    spec.placement = new PlacementSpec();
    spec.placement.rebalanceInterval = "5m";
    spec.placement.imbalanceThreshold = 1.5;
    spec.placement.imbalanceHysteresis = 0.2;
    RendezvousSpec set = RendezvousPlan.fromSpec(spec, ScalePlanner.plan(spec, Set.of()), SHA, Map.of());
    assertThat(set.placement().rebalance()).isEqualTo(new RebalancePolicy(Duration.ofMinutes(5), 1.5, 0.2));

    // An unset hysteresis shrinks with a threshold close to 1, so the policy stays valid.
    spec.placement = new PlacementSpec();
    spec.placement.imbalanceThreshold = 1.02;
    RendezvousSpec tight = RendezvousPlan.fromSpec(spec, ScalePlanner.plan(spec, Set.of()), SHA, Map.of());
    assertThat(tight.placement().rebalance().hysteresis()).isCloseTo(0.02, within(1e-12));
  }
}
