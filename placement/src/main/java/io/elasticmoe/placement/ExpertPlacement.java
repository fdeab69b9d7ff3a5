package io.elasticmoe.placement;

import java.util.List;

/**
 * A computed placement, per layer: physical slot to logical expert and back. Slots of rank {@code r} are
 * {@code [r * slotsPerRank, (r + 1) * slotsPerRank)}. A slot that holds nothing (a dead rank's slots in
 * the elasticity-aware variant) has {@code phy2log = -1}.
 *
 * @param phy2log {@code [layers][numPhysicalExperts]}: logical expert held by each slot, or -1
 * @param log2phy {@code [layers][numLogicalExperts][maxReplicas]}: slots holding each expert, -1 padded
 * @param logcnt {@code [layers][numLogicalExperts]}: number of replicas of each expert
 * @param expertsAtRisk logical experts (over all layers, sorted, distinct) whose replicas all sit in one
 *     failure domain although the domains would allow otherwise; empty when domains are unknown
 */
public record ExpertPlacement(
    int[][] phy2log, int[][][] log2phy, int[][] logcnt, List<Integer> expertsAtRisk) {}
