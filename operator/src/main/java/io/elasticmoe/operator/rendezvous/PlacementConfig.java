package io.elasticmoe.operator.rendezvous;

import java.util.List;

/**
 * What the placement channel plans over.
 *
 * @param numLogicalExperts spec.model.numExperts
 * @param numPhysicalExperts slots over all maxRanks ranks (= logical + redundant); a multiple of maxRanks
 * @param numGroups spec.model.numExpertGroups
 * @param layers MoE layers planned (1 for now)
 * @param rankFailureDomains per rank (index = rank), the failure domain (placement.spreadKey value of
 *     its node); empty when unknown
 */
public record PlacementConfig(
    int numLogicalExperts, int numPhysicalExperts, int numGroups, int layers, List<String> rankFailureDomains) {

  public PlacementConfig {
    rankFailureDomains = List.copyOf(rankFailureDomains);
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
