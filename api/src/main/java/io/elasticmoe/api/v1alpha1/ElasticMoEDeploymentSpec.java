package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crd.generator.annotation.PrinterColumn;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;
import io.fabric8.kubernetes.model.annotation.SpecReplicas;

/** Desired state of an {@link ElasticMoEDeployment}. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ElasticMoEDeploymentSpec {

  @SpecReplicas
  @Required
  @Min(0)
  @JsonPropertyDescription(
      "Number of EP ranks (one worker pod and one GPU each). Target of the scale subresource. "
          + "Must not exceed maxRanks.")
  public Integer replicas;

  @Default("1")
  @Min(1)
  @JsonPropertyDescription(
      "Fewest live ranks with which an epoch may commit after the rendezvous last-call timeout, and "
          + "below which a scale-down is refused (kept, with a warning condition).")
  public Integer minAvailableRanks;

  @Required
  @Min(1)
  @Max(1024)
  @JsonPropertyDescription(
      "Rank capacity of the communication buffers, fixed for the lifetime of a world. NIXL-EP requires "
          + "fewer than 8 or a multiple of 8.")
  public Integer maxRanks;

  @Required
  @JsonPropertyDescription("The worker pods: image, resources, environment and data-plane backend.")
  public WorkerSpec worker;

  @Required
  @JsonPropertyDescription("Shape of the MoE layer the data plane is sized for.")
  public ModelSpec model;

  @Default("{}")
  @JsonPropertyDescription("Where replicas of logical experts live (EPLB).")
  public PlacementSpec placement;

  @Default("{}")
  @JsonPropertyDescription("Timing of the operator-hosted rendezvous service.")
  public RendezvousSpec rendezvous;

  @Default("{}")
  @JsonPropertyDescription("What happens when a rank fails.")
  public FailurePolicySpec failurePolicy;

  @Default("{}")
  @JsonPropertyDescription("How ranks are removed when replicas decreases.")
  public ScaleDownSpec scaleDown;

  @Default("{}")
  @JsonPropertyDescription("How a changed worker template is rolled out to running ranks.")
  public RolloutStrategySpec rolloutStrategy;
}
