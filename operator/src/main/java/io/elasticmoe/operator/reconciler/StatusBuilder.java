package io.elasticmoe.operator.reconciler;

import io.elasticmoe.api.v1alpha1.ConditionReason;
import io.elasticmoe.api.v1alpha1.ConditionType;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentStatus;
import io.elasticmoe.operator.model.Conditions;
import io.elasticmoe.operator.model.DeploymentLabels;
import io.elasticmoe.operator.model.ScalePlan;
import java.time.Instant;
import java.util.List;

/**
 * Builds the part of the status the reconciler owns (observedGeneration, replica counts, selector,
 * conditions). The rendezvous fields (epoch, worldSize, ranks, placementVersion) are written by the
 * rendezvous service and never touched here.
 */
final class StatusBuilder {

  private StatusBuilder() {}

  static ElasticMoEDeploymentStatus invalidSpec(ElasticMoEDeployment emd, List<String> problems, Instant now) {
    ElasticMoEDeploymentStatus status = base(emd);
    String message = String.join("; ", problems);
    status.conditions =
        conditions(emd, now)
            .set(ConditionType.Available, false, ConditionReason.InvalidSpec, message)
            .set(ConditionType.Progressing, false, ConditionReason.InvalidSpec, "fix the spec to continue")
            .set(ConditionType.Failed, true, ConditionReason.InvalidSpec, message)
            .toList();
    return status;
  }

  static ElasticMoEDeploymentStatus rendezvousUnavailable(ElasticMoEDeployment emd, String message, Instant now) {
    ElasticMoEDeploymentStatus status = base(emd);
    status.conditions =
        conditions(emd, now)
            .set(ConditionType.Progressing, false, ConditionReason.RendezvousUnavailable, message)
            .toList();
    return status;
  }

  /**
   * @param podCount rank pods that exist and are not being deleted
   * @param readyCount of those, the Ready ones
   */
  static ElasticMoEDeploymentStatus observed(
      ElasticMoEDeployment emd, ScalePlan plan, int podCount, int readyCount, List<Integer> expertsAtRisk, Instant now) {
    ElasticMoEDeploymentStatus status = base(emd);
    status.replicas = podCount;
    status.readyReplicas = readyCount;
    status.expertsAtRisk = expertsAtRisk;
    int planned = plan.plannedRanks().size();
    int minAvailable = emd.getSpec().minAvailableRanks == null ? 1 : emd.getSpec().minAvailableRanks;
    boolean available = planned > 0 && readyCount >= Math.min(minAvailable, planned);
    boolean settled = readyCount == planned && podCount == planned;
    String counts = readyCount + "/" + planned + " ranks ready";
    Conditions conditions =
        conditions(emd, now)
            .set(
                ConditionType.Available,
                available,
                available ? ConditionReason.RanksReady : ConditionReason.RanksStarting,
                counts + " (minAvailableRanks " + minAvailable + ")")
            .set(
                ConditionType.Progressing,
                !settled,
                settled ? ConditionReason.Reconciled : ConditionReason.RanksStarting,
                counts)
            .set(ConditionType.Failed, false, ConditionReason.Reconciled, "spec is valid");
    if (plan.blocked()) {
      conditions.set(ConditionType.Resizing, false, ConditionReason.ScaleDownBlocked, plan.blockedMessage());
    } else if (!plan.ranksToCreate().isEmpty() || podCount < planned) {
      conditions.set(ConditionType.Resizing, true, ConditionReason.ScalingUp, "adding ranks " + plan.ranksToCreate());
    } else if (!plan.ranksToRemove().isEmpty() || podCount > planned) {
      conditions.set(
          ConditionType.Resizing, true, ConditionReason.ScalingDown, "removing ranks " + plan.ranksToRemove());
    } else {
      conditions.set(ConditionType.Resizing, false, ConditionReason.Reconciled, planned + " ranks planned");
    }
    boolean atRisk = expertsAtRisk != null && !expertsAtRisk.isEmpty();
    if (available && readyCount < planned) {
      conditions.set(ConditionType.Degraded, true, ConditionReason.RanksStarting, counts);
    } else if (atRisk) {
      conditions.set(ConditionType.Degraded, true, ConditionReason.ExpertsAtRisk,
          "every replica of experts " + expertsAtRisk + " lives in one failure domain");
    } else {
      conditions.set(ConditionType.Degraded, false, ConditionReason.RanksReady, counts);
    }
    status.conditions = conditions.toList();
    return status;
  }

  private static ElasticMoEDeploymentStatus base(ElasticMoEDeployment emd) {
    ElasticMoEDeploymentStatus status = new ElasticMoEDeploymentStatus();
    status.observedGeneration = emd.getMetadata().getGeneration();
    status.selector = DeploymentLabels.selector(emd.getMetadata().getName());
    // Kept while a reconcile cannot serve the endpoint (invalid spec, no rendezvous address), so the
    // listener port survives for the next one.
    status.tcpStore = emd.getStatus() == null ? null : emd.getStatus().tcpStore;
    return status;
  }

  private static Conditions conditions(ElasticMoEDeployment emd, Instant now) {
    List<io.fabric8.kubernetes.api.model.Condition> previous =
        emd.getStatus() == null ? null : emd.getStatus().conditions;
    return new Conditions(previous, emd.getMetadata().getGeneration(), now);
  }
}
