package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;

/** Redundant-expert placement (EPLB) policy. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class PlacementSpec {

  @Default("elasticityAwareHierarchical")
  @JsonPropertyDescription(
      "Rebalancing algorithm: elasticityAwareHierarchical (hierarchical EPLB while all ranks live, global "
          + "EPLB over the live ranks otherwise), hierarchical, or global.")
  public Rebalance rebalance;

  @Default("60s")
  @Pattern(Durations.PATTERN)
  @JsonPropertyDescription("Shortest time between load-driven rebalances. Membership changes always rebalance.")
  public String rebalanceInterval;

  @Default("1.2")
  @Min(1.0)
  @JsonPropertyDescription(
      "Rebalance on load only when the most loaded rank carries this many times the mean load.")
  public Double imbalanceThreshold;

  @Min(0.0)
  @JsonPropertyDescription(
      "Hysteresis of the load trigger: after a load-driven rebalance, the next one needs either an imbalance "
          + "of imbalanceThreshold + this, or the imbalance to have fallen to imbalanceThreshold - this first. "
          + "At most imbalanceThreshold - 1; unset means the smaller of 0.05 and imbalanceThreshold - 1.")
  public Double imbalanceHysteresis;

  @Default("kubernetes.io/hostname")
  @JsonPropertyDescription(
      "Node label naming a failure domain. Replicas of an expert are spread over domains when possible; "
          + "experts whose replicas share one domain are reported in status.expertsAtRisk.")
  public String spreadKey;

  public enum Rebalance {
    elasticityAwareHierarchical,
    hierarchical,
    global
  }
}
