package io.elasticmoe.placement;

import java.util.List;

/**
 * Everything a placement is computed from. Shapes follow DeepSeek's {@code rebalance_experts}, and
 * errors name the fields by the reference's names given below.
 *
 * @param load per layer, per logical expert: tokens routed to it (non-negative, finite)
 * @param numPhysicalExperts total physical replica slots (DeepSeek's {@code num_replicas}); a
 *     multiple of {@code numRanks}
 * @param numGroups expert groups (DeepSeek's {@code num_groups})
 * @param numNodes nodes the ranks are spread over (DeepSeek's {@code num_nodes})
 * @param numRanks ranks (GPUs) the slots are spread over, dead ones included (DeepSeek's {@code
 *     num_gpus})
 * @param activeRanks the ranks alive now, sorted; all of {@code 0..numRanks-1} when nothing has
 *     failed
 * @param rankFailureDomains per rank, the failure domain it lives in (e.g. its node's {@code
 *     kubernetes.io/hostname}); empty when unknown, which disables spreading
 */
public record PlacementRequest(
    double[][] load,
    int numPhysicalExperts,
    int numGroups,
    int numNodes,
    int numRanks,
    List<Integer> activeRanks,
    List<String> rankFailureDomains) {}
