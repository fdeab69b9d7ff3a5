package io.elasticmoe.placement;

import java.util.List;

/**
 * A computed placement, per layer: physical slot to logical expert and back. Slots of rank {@code
 * r} are {@code [r * slotsPerRank, (r + 1) * slotsPerRank)}. A slot that holds nothing (a dead
 * rank's slots in the elasticity-aware variant) has {@code phy2log = -1}.
 *
 * @param phy2log {@code [layers][numPhysicalExperts]}: logical expert held by each slot, or -1
 * @param log2phy {@code [layers][numLogicalExperts][maxReplicas]}: slots holding each expert, -1
 *     padded
 * @param logcnt {@code [layers][numLogicalExperts]}: number of replicas of each expert
 * @param expertsAtRisk logical experts (over all layers, sorted, distinct) with two or more
 *     replicas that all sit in one failure domain of a layer whose live ranks span several domains
 *     ({@link ExpertsAtRiskCheck}); empty when domains are unknown. The planner leaves an expert
 *     here only when the domains' live slots cannot spread every replicated expert
 */
public record ExpertPlacement(
    int[][] phy2log, int[][][] log2phy, int[][] logcnt, List<Integer> expertsAtRisk) {}
