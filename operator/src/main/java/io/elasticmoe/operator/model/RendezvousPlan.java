package io.elasticmoe.operator.model;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentSpec;
import io.elasticmoe.api.v1alpha1.PlacementSpec;
import io.elasticmoe.api.v1alpha1.RendezvousSpec;
import io.elasticmoe.operator.rendezvous.PlacementConfig;
import io.elasticmoe.placement.RebalancePolicy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What the rendezvous is told about a deployment: the planned ranks and the timing from the spec, and
 * per rank the failure domain its pod's node is in (for placement spreading).
 */
public final class RendezvousPlan {
  static final Duration DEFAULT_HEARTBEAT = Duration.ofSeconds(2);
  static final Duration DEFAULT_JOIN_TIMEOUT = Duration.ofSeconds(120);
  static final int DEFAULT_MISSED_HEARTBEATS = 3;
  static final double DEFAULT_HYSTERESIS = PlacementConfig.DEFAULT_REBALANCE.hysteresis();
  /** Domain of a rank whose pod is not scheduled yet: a domain of its own, so it never counts as shared. */
  static String unscheduledDomain(int rank) {
    return "unscheduled-rank-" + rank;
  }

  private RendezvousPlan() {}

  public static io.elasticmoe.operator.rendezvous.RendezvousSpec fromSpec(
      ElasticMoEDeploymentSpec spec, ScalePlan plan, String credentialSha256, Map<Integer, String> domainByRank) {
    RendezvousSpec timing = spec.rendezvous == null ? new RendezvousSpec() : spec.rendezvous;
    List<String> domains = new ArrayList<>();
    for (int rank = 0; rank < spec.maxRanks; rank++) {
      domains.add(domainByRank.getOrDefault(rank, unscheduledDomain(rank)));
    }
    int redundant = spec.model.redundantExperts == null ? 0 : spec.model.redundantExperts;
    PlacementConfig placement = new PlacementConfig(
        spec.model.numExperts,
        spec.model.numExperts + redundant,
        spec.model.numExpertGroups == null ? 1 : spec.model.numExpertGroups,
        spec.model.numLayers == null ? 1 : spec.model.numLayers,
        domainByRank.isEmpty() ? List.of() : domains,
        rebalancePolicy(spec.placement));
    return new io.elasticmoe.operator.rendezvous.RendezvousSpec(
        List.copyOf(plan.plannedRanks()),
        spec.minAvailableRanks == null ? 1 : spec.minAvailableRanks,
        spec.maxRanks,
        DurationParser.parse("spec.rendezvous.heartbeatInterval", timing.heartbeatInterval, DEFAULT_HEARTBEAT),
        timing.missedHeartbeatThreshold == null ? DEFAULT_MISSED_HEARTBEATS : timing.missedHeartbeatThreshold,
        DurationParser.parse("spec.rendezvous.joinTimeout", timing.joinTimeout, DEFAULT_JOIN_TIMEOUT),
        credentialSha256,
        placement);
  }

  /**
   * When the placement is re-planned on load: spec.placement's interval, threshold and hysteresis, with
   * the CRD's defaults for fields of CRs stored before they existed. An unset hysteresis is the smaller of
   * {@link #DEFAULT_HYSTERESIS} and {@code imbalanceThreshold - 1}, so a threshold of 1 stays valid.
   */
  static RebalancePolicy rebalancePolicy(PlacementSpec placement) {
    PlacementSpec p = placement == null ? new PlacementSpec() : placement;
    RebalancePolicy defaults = PlacementConfig.DEFAULT_REBALANCE;
    double threshold = p.imbalanceThreshold == null ? defaults.imbalanceThreshold() : p.imbalanceThreshold;
    double hysteresis =
        p.imbalanceHysteresis == null ? Math.min(DEFAULT_HYSTERESIS, threshold - 1) : p.imbalanceHysteresis;
    return new RebalancePolicy(
        DurationParser.parse("spec.placement.rebalanceInterval", p.rebalanceInterval, defaults.interval()),
        threshold,
        hysteresis);
  }
}
