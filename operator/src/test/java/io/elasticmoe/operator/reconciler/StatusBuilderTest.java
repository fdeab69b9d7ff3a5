package io.elasticmoe.operator.reconciler;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentStatus;
import io.elasticmoe.operator.model.RankPodTemplateTest;
import io.elasticmoe.operator.model.ScalePlan;
import io.elasticmoe.operator.model.ScalePlanner;
import io.fabric8.kubernetes.api.model.Condition;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class StatusBuilderTest {
  static final Instant NOW = Instant.parse("2026-11-29T12:00:00Z");

  static ElasticMoEDeployment deployment() {
    ElasticMoEDeployment emd = RankPodTemplateTest.deployment();
    emd.getMetadata().setGeneration(3L);
    return emd;
  }

  static Condition condition(ElasticMoEDeploymentStatus status, String type) {
    return status.conditions.stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
  }

  @Test
  void allRanksReadyIsAvailableAndSettled() {
    ElasticMoEDeployment emd = deployment();
    ScalePlan plan = ScalePlanner.plan(emd.getSpec(), Set.of(0, 1, 2, 3));

    ElasticMoEDeploymentStatus status = StatusBuilder.observed(emd, plan, 4, 4, List.of(), NOW);

    assertThat(status.observedGeneration).isEqualTo(3L);
    assertThat(status.selector).isEqualTo("app.kubernetes.io/name=elasticmoe-worker,elasticmoe.io/deployment=moe");
    assertThat(condition(status, "Available").getStatus()).isEqualTo("True");
    assertThat(condition(status, "Progressing").getStatus()).isEqualTo("False");
    assertThat(condition(status, "Degraded").getStatus()).isEqualTo("False");
    assertThat(condition(status, "Resizing").getReason()).isEqualTo("Reconciled");
  }

  @Test
  void expertsInOneFailureDomainDegradeTheDeployment() {
    ElasticMoEDeployment emd = deployment();
    ScalePlan plan = ScalePlanner.plan(emd.getSpec(), Set.of(0, 1, 2, 3));

    ElasticMoEDeploymentStatus status = StatusBuilder.observed(emd, plan, 4, 4, List.of(2, 5), NOW);

    assertThat(status.expertsAtRisk).containsExactly(2, 5);
    Condition degraded = condition(status, "Degraded");
    assertThat(degraded.getStatus()).isEqualTo("True");
    assertThat(degraded.getReason()).isEqualTo("ExpertsAtRisk");
    assertThat(degraded.getMessage()).isEqualTo("every replica of experts [2, 5] lives in one failure domain");
  }

  @Test
  void scaleBelowMinAvailableRanksShowsWhyItWasKept() {
    ElasticMoEDeployment emd = deployment();
    emd.getSpec().replicas = 1;
    ScalePlan plan = ScalePlanner.plan(emd.getSpec(), Set.of(0, 1, 2, 3));

    ElasticMoEDeploymentStatus status = StatusBuilder.observed(emd, plan, 4, 4, null, NOW);

    Condition resizing = condition(status, "Resizing");
    assertThat(resizing.getReason()).isEqualTo("ScaleDownBlocked");
    assertThat(resizing.getMessage()).isEqualTo("spec.replicas is 1, below minAvailableRanks (2); keeping 4 ranks");
  }
}
