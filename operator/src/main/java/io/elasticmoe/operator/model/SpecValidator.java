package io.elasticmoe.operator.model;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentSpec;
import io.elasticmoe.api.v1alpha1.ModelSpec;
import io.elasticmoe.api.v1alpha1.PlacementSpec;
import io.elasticmoe.operator.rendezvous.PlacementConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * Every rule of the spec that the CRD schema cannot check (the v1.20 API server predates CEL), plus
 * the schema's own rules again, because a CR may have been stored before the schema tightened. Returns
 * every problem at once; each message names the field, the value and the rule.
 */
public final class SpecValidator {

  /** NIXL-EP sizes its buffers for fewer than 8 ranks or a multiple of 8. */
  static final int RANK_GRANULE = 8;

  private SpecValidator() {}

  public static List<String> validate(ElasticMoEDeploymentSpec spec) {
    List<String> problems = new ArrayList<>();
    if (spec == null) {
      problems.add("spec is missing");
      return problems;
    }
    if (spec.replicas == null || spec.replicas < 0) {
      problems.add("spec.replicas is " + spec.replicas + "; it must be 0 or more");
    }
    if (spec.maxRanks == null || spec.maxRanks < 1) {
      problems.add("spec.maxRanks is " + spec.maxRanks + "; it must be 1 or more");
    } else {
      if (spec.maxRanks >= RANK_GRANULE && spec.maxRanks % RANK_GRANULE != 0) {
        problems.add(
            "spec.maxRanks is " + spec.maxRanks + "; NIXL-EP buffers need fewer than 8 ranks or a multiple of 8");
      }
      if (spec.replicas != null && spec.replicas > spec.maxRanks) {
        problems.add(
            "spec.replicas is " + spec.replicas + "; it must not exceed spec.maxRanks (" + spec.maxRanks + ")");
      }
    }
    if (spec.minAvailableRanks != null && spec.maxRanks != null && spec.minAvailableRanks > spec.maxRanks) {
      problems.add(
          "spec.minAvailableRanks is " + spec.minAvailableRanks + "; it must not exceed spec.maxRanks ("
              + spec.maxRanks + ")");
    }
    if (spec.worker == null || spec.worker.image == null || spec.worker.image.isBlank()) {
      problems.add("spec.worker.image is missing");
    }
    validateModel(spec.model, spec.maxRanks, spec.minAvailableRanks, problems);
    validatePlacement(spec.placement, problems);
    return problems;
  }

  private static void validateModel(
      ModelSpec model, Integer maxRanks, Integer minAvailableRanks, List<String> problems) {
    if (model == null) {
      problems.add("spec.model is missing");
      return;
    }
    if (model.hidden == null || model.hidden < 128 || model.hidden % 128 != 0) {
      problems.add("spec.model.hidden is " + model.hidden + "; it must be a positive multiple of 128");
    } else if (model.dispatchDtype == ModelSpec.DispatchDtype.fp8 && model.hidden % 512 != 0) {
      problems.add(
          "spec.model.hidden is " + model.hidden + "; fp8 dispatch needs a multiple of 512 (or dispatchDtype bf16)");
    }
    if (model.topK == null || model.topK < 1 || model.topK > 16) {
      problems.add("spec.model.topK is " + model.topK + "; the kernels support 1..16 (MAX_TOPK)");
    }
    Integer tokens = model.maxDispatchTokensPerRank;
    if (tokens != null && (tokens < 1 || tokens > 1024)) {
      problems.add(
          "spec.model.maxDispatchTokensPerRank is " + tokens + "; it must be 1..1024 (the kernels' finish tag)");
    }
    if (model.numExperts == null || model.numExperts < 1) {
      problems.add("spec.model.numExperts is " + model.numExperts + "; it must be 1 or more");
      return;
    }
    if (model.topK != null && model.topK > model.numExperts) {
      problems.add(
          "spec.model.topK is " + model.topK + "; it cannot exceed spec.model.numExperts (" + model.numExperts + ")");
    }
    int groups = model.numExpertGroups == null ? 1 : model.numExpertGroups;
    if (model.numExperts % groups != 0) {
      problems.add(
          "spec.model.numExperts (" + model.numExperts + ") must be a multiple of spec.model.numExpertGroups ("
              + groups + ")");
    }
    int physical = model.numExperts + (model.redundantExperts == null ? 0 : model.redundantExperts);
    if (maxRanks != null && maxRanks > 0 && physical % maxRanks != 0) {
      problems.add(
          "spec.model.numExperts + redundantExperts is " + physical + "; it must be a multiple of spec.maxRanks ("
              + maxRanks + ") so every rank holds the same number of experts");
    } else if (maxRanks != null && maxRanks > 0) {
      // The elasticity-aware placement must fit every logical expert on the fewest ranks an epoch
      // may commit with, or a shrunken world would route tokens to experts nobody holds.
      int slotsPerRank = physical / maxRanks;
      int fewestRanks = minAvailableRanks == null ? 1 : minAvailableRanks;
      if (fewestRanks * slotsPerRank < model.numExperts) {
        problems.add(
            "spec.minAvailableRanks (" + fewestRanks + ") x " + slotsPerRank + " expert slots per rank = "
                + fewestRanks * slotsPerRank + " slots, fewer than spec.model.numExperts (" + model.numExperts
                + "); raise redundantExperts or minAvailableRanks");
      }
    }
  }

  private static void validatePlacement(PlacementSpec placement, List<String> problems) {
    if (placement == null) {
      return;
    }
    if (placement.rebalanceInterval != null) {
      try {
        DurationParser.parse("spec.placement.rebalanceInterval", placement.rebalanceInterval, null);
      } catch (IllegalArgumentException e) {
        problems.add(e.getMessage());
      }
    }
    Double threshold = placement.imbalanceThreshold;
    if (threshold != null && !(threshold >= 1 && !threshold.isInfinite())) {
      problems.add("spec.placement.imbalanceThreshold is " + threshold
          + "; max/mean load is never below 1, so it must be at least 1");
      return;
    }
    Double hysteresis = placement.imbalanceHysteresis;
    double effectiveThreshold = threshold == null ? PlacementConfig.DEFAULT_REBALANCE.imbalanceThreshold() : threshold;
    if (hysteresis != null && !(hysteresis >= 0 && effectiveThreshold - hysteresis >= 1)) {
      // The re-arm level is threshold - hysteresis; below 1 no world could ever re-arm the trigger.
      problems.add("spec.placement.imbalanceHysteresis is " + hysteresis
          + "; it must be in [0, imbalanceThreshold - 1 = "
          + String.format(java.util.Locale.ROOT, "%.4g", effectiveThreshold - 1) + "]");
    }
  }
}
