package io.elasticmoe.operator.rendezvous;

import io.elasticmoe.placement.RebalancePolicy;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * What the placement channel plans over, and when it re-plans on load.
 *
 * @param numLogicalExperts spec.model.numExperts
 * @param numPhysicalExperts slots over all maxRanks ranks (= logical + redundant); a multiple of maxRanks
 * @param numGroups spec.model.numExpertGroups
 * @param layers MoE layers planned (1 for now)
 * @param rankFailureDomains per rank (index = rank), the failure domain (placement.spreadKey value of
 *     its node); empty when unknown
 * @param rebalance spec.placement.rebalanceInterval, imbalanceThreshold and imbalanceHysteresis
 */
public record PlacementConfig(
    int numLogicalExperts,
    int numPhysicalExperts,
    int numGroups,
    int layers,
    List<String> rankFailureDomains,
    RebalancePolicy rebalance) {

  /** The CRD's defaults: at most one load-driven re-plan a minute, above 1.2× the mean, re-armed below 1.15×. */
  public static final RebalancePolicy DEFAULT_REBALANCE = new RebalancePolicy(Duration.ofSeconds(60), 1.2, 0.05);

  public PlacementConfig {
    rankFailureDomains = List.copyOf(rankFailureDomains);
    Objects.requireNonNull(rebalance, "rebalance");
    if (numLogicalExperts < 1 || numPhysicalExperts < numLogicalExperts) {
      throw new IllegalArgumentException(
          "numPhysicalExperts is " + numPhysicalExperts + "; it must be at least numLogicalExperts = "
              + numLogicalExperts + " (and that at least 1)");
    }
    if (numGroups < 1 || layers < 1) {
      throw new IllegalArgumentException(
          "numGroups is " + numGroups + " and layers is " + layers + "; both must be at least 1");
    }
  }
}
