package io.elasticmoe.placement;

/**
 * The placement the operator publishes (DESIGN §7), in three steps:
 *
 * <ol>
 *   <li>EPLB: DeepSeek's {@code rebalance_experts} exactly ({@link DeepSeekEplb}; hierarchical when
 *       {@code numGroups % numNodes == 0}, else global) while every rank is alive, and the
 *       elasticity-aware variant ({@link ElasticityAwareEplb}) once {@code activeRanks} is a strict
 *       subset;
 *   <li>spreading ({@link ReplicaSpreadPlanner}) when failure domains are known: slot swaps so that
 *       no replicated expert lives in one domain only, whenever the domains allow it;
 *   <li>{@link ExpertsAtRiskCheck} for the experts still confined to one domain.
 * </ol>
 *
 * <p>With no failure domains and all ranks alive the result is exactly the reference's. Errors name
 * the offending field with the reference's names ({@code num_replicas} is {@code
 * numPhysicalExperts}, {@code num_gpus} is {@code numRanks}, {@code weight} is {@code load}).
 */
public final class ExpertPlacementPlanner implements PlacementPlanner {

  public ExpertPlacementPlanner() {}

  @Override
  public ExpertPlacement plan(PlacementRequest request) {
    if (request.activeRanks() == null) {
      throw new IllegalArgumentException("activeRanks is null; list the live ranks");
    }
    if (request.rankFailureDomains() == null) {
      throw new IllegalArgumentException(
          "rankFailureDomains is null; pass an empty list when domains are unknown");
    }
    ExpertPlacement placement =
        ElasticityAwareEplb.rebalance(
            request.load(),
            request.numPhysicalExperts(),
            request.numGroups(),
            request.numNodes(),
            request.numRanks(),
            request.activeRanks());
    if (request.rankFailureDomains().isEmpty()) {
      return placement;
    }
    FailureDomains domains =
        FailureDomains.of(
            request.rankFailureDomains(),
            request.numRanks(),
            request.numPhysicalExperts() / request.numRanks());
    ExpertPlacement spread = ReplicaSpreadPlanner.spread(placement, request.load(), domains);
    return new ExpertPlacement(
        spread.phy2log(),
        spread.log2phy(),
        spread.logcnt(),
        ExpertsAtRiskCheck.expertsAtRisk(spread, request.rankFailureDomains()));
  }
}
