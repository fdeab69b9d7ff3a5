package io.elasticmoe.operator.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentSpec;
import io.elasticmoe.api.v1alpha1.ModelSpec;
import io.elasticmoe.api.v1alpha1.PlacementSpec;
import io.elasticmoe.api.v1alpha1.WorkerSpec;
import org.junit.jupiter.api.Test;

class SpecValidatorTest {

  static ElasticMoEDeploymentSpec validSpec() {
    ElasticMoEDeploymentSpec spec = new ElasticMoEDeploymentSpec();
    spec.replicas = 4;
    spec.minAvailableRanks = 2;
    spec.maxRanks = 8;
    spec.worker = new WorkerSpec();
    spec.worker.image = "elasticmoe/worker:dev";
    spec.model = new ModelSpec();
    spec.model.numExperts = 8;
    spec.model.redundantExperts = 24;
    spec.model.numExpertGroups = 4;
    spec.model.hidden = 512;
    spec.model.topK = 4;
    spec.model.maxDispatchTokensPerRank = 64;
    spec.model.dispatchDtype = ModelSpec.DispatchDtype.fp8;
    return spec;
  }

  @Test
  void acceptsTheExampleSpec() {
    assertThat(SpecValidator.validate(validSpec())).isEmpty();
  }

  @Test
  void rejectsMaxRanksThatIsNeitherBelowEightNorAMultipleOfEight() {
    ElasticMoEDeploymentSpec spec = validSpec();
    spec.maxRanks = 12;
    spec.model.redundantExperts = 40;
    assertThat(SpecValidator.validate(spec))
        .containsExactly("spec.maxRanks is 12; NIXL-EP buffers need fewer than 8 ranks or a multiple of 8");
  }

  @Test
  void acceptsMaxRanksBelowEight() {
    ElasticMoEDeploymentSpec spec = validSpec();
    spec.maxRanks = 5;
    spec.replicas = 5;
    spec.model.redundantExperts = 12;
    assertThat(SpecValidator.validate(spec)).isEmpty();
  }

  @Test
  void rejectsMoreReplicasThanMaxRanks() {
    ElasticMoEDeploymentSpec spec = validSpec();
    spec.replicas = 9;
    assertThat(SpecValidator.validate(spec)).containsExactly("spec.replicas is 9; it must not exceed spec.maxRanks (8)");
  }

  @Test
  void rejectsFp8HiddenThatIsNotAMultipleOf512() {
    ElasticMoEDeploymentSpec spec = validSpec();
    spec.model.hidden = 640;
    assertThat(SpecValidator.validate(spec))
        .containsExactly("spec.model.hidden is 640; fp8 dispatch needs a multiple of 512 (or dispatchDtype bf16)");
    spec.model.dispatchDtype = ModelSpec.DispatchDtype.bf16;
    assertThat(SpecValidator.validate(spec)).isEmpty();
  }

  @Test
  void rejectsPhysicalExpertsNotSpreadEvenlyOverMaxRanks() {
    ElasticMoEDeploymentSpec spec = validSpec();
    spec.model.redundantExperts = 27;
    assertThat(SpecValidator.validate(spec))
        .containsExactly("spec.model.numExperts + redundantExperts is 35; it must be a multiple of spec.maxRanks (8)"
            + " so every rank holds the same number of experts");
  }

  @Test
  void reportsEveryProblemAtOnce() {
    ElasticMoEDeploymentSpec spec = validSpec();
    spec.model.topK = 20;
    spec.model.numExpertGroups = 5;
    spec.worker.image = " ";
    assertThat(SpecValidator.validate(spec))
        .containsExactlyInAnyOrder(
            "spec.worker.image is missing",
            "spec.model.topK is 20; the kernels support 1..16 (MAX_TOPK)",
            "spec.model.topK is 20; it cannot exceed spec.model.numExperts (8)",
            "spec.model.numExperts (8) must be a multiple of spec.model.numExpertGroups (5)");
  }

  @Test
  void rejectsAWorldThatCannotHoldEveryExpertAtMinAvailableRanks() {
    ElasticMoEDeploymentSpec spec = validSpec();
    spec.model.numExperts = 32;
    spec.model.redundantExperts = 8;
    assertThat(SpecValidator.validate(spec))
        .containsExactly("spec.minAvailableRanks (2) x 5 expert slots per rank = 10 slots, fewer than"
            + " spec.model.numExperts (32); raise redundantExperts or minAvailableRanks");
  }

  @Test
  void rejectsMissingSpec() {
    assertThat(SpecValidator.validate(null)).containsExactly("spec is missing");
  }

  @Test
  void rejectsRebalanceKnobsThePolicyCannotHonour() {
    ElasticMoEDeploymentSpec spec = validSpec();
    spec.placement = new PlacementSpec();
    spec.placement.rebalanceInterval = "1 minute";
    spec.placement.imbalanceThreshold = 1.2;
    spec.placement.imbalanceHysteresis = 0.3;
    assertThat(SpecValidator.validate(spec)).containsExactly(
        "spec.placement.rebalanceInterval is '1 minute'; expected a duration such as 500ms, 2s or 1m30s",
        "spec.placement.imbalanceHysteresis is 0.3; it must be in [0, imbalanceThreshold - 1 = 0.2000]");

    spec.placement = new PlacementSpec();
    spec.placement.imbalanceThreshold = 0.9;
    assertThat(SpecValidator.validate(spec)).containsExactly(
        "spec.placement.imbalanceThreshold is 0.9; max/mean load is never below 1, so it must be at least 1");

    // The largest hysteresis puts the re-arm level at exactly 1, despite 1.2 - 1 being 0.19999999999999996.
    spec.placement.imbalanceThreshold = 1.2;
    spec.placement.imbalanceHysteresis = 0.2;
    assertThat(SpecValidator.validate(spec)).isEmpty();
  }
}
