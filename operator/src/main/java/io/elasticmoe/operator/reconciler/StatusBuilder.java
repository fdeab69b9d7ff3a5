package io.elasticmoe.operator.reconciler;

import io.elasticmoe.api.v1alpha1.ConditionReason;
import io.elasticmoe.api.v1alpha1.ConditionType;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentStatus;
import io.elasticmoe.operator.model.Conditions;
import io.elasticmoe.operator.model.DeploymentLabels;
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
    status.conditions =
        conditions(emd, now)
            .set(ConditionType.Available, false, ConditionReason.InvalidSpec, String.join("; ", problems))
            .set(ConditionType.Progressing, false, ConditionReason.InvalidSpec, "fix the spec to continue")
            .set(ConditionType.Failed, true, ConditionReason.InvalidSpec, String.join("; ", problems))
            .toList();
    return status;
  }

  static ElasticMoEDeploymentStatus observed(
      ElasticMoEDeployment emd, int podCount, int readyCount, Instant now) {
    ElasticMoEDeploymentStatus status = base(emd);
    status.replicas = podCount;
    status.readyReplicas = readyCount;
    int desired = emd.getSpec().replicas;
    int minAvailable = emd.getSpec().minAvailableRanks == null ? 1 : emd.getSpec().minAvailableRanks;
    boolean available = desired > 0 && readyCount >= Math.min(minAvailable, desired);
    boolean settled = readyCount == desired && podCount == desired;
    String counts = readyCount + "/" + desired + " ranks ready";
    status.conditions =
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
            .set(ConditionType.Failed, false, ConditionReason.Reconciled, "spec is valid")
            .toList();
    return status;
  }

  private static ElasticMoEDeploymentStatus base(ElasticMoEDeployment emd) {
    ElasticMoEDeploymentStatus status = new ElasticMoEDeploymentStatus();
    status.observedGeneration = emd.getMetadata().getGeneration();
    status.selector = DeploymentLabels.selector(emd.getMetadata().getName());
    return status;
  }

  private static Conditions conditions(ElasticMoEDeployment emd, Instant now) {
    List<io.fabric8.kubernetes.api.model.Condition> previous =
        emd.getStatus() == null ? null : emd.getStatus().conditions;
    return new Conditions(previous, emd.getMetadata().getGeneration(), now);
  }
}
