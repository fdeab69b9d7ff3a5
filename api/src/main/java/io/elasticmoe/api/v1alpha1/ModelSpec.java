package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;

/**
 * The MoE layer the buffers are sized for. Limits mirror the data plane's constants (DispatchLayout,
 * kernels/configs.cuh); the CRD schema checks what it can, SpecValidator the rest.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ModelSpec {

  @Required
  @Min(1)
  @JsonPropertyDescription("Logical experts per MoE layer, e.g. 256 for DeepSeek-V3.")
  public Integer numExperts;

  @Default("0")
  @Min(0)
  @JsonPropertyDescription(
      "Extra physical replicas of hot experts (EPLB). Physical experts = numExperts + redundantExperts, "
          + "spread evenly over maxRanks.")
  public Integer redundantExperts;

  @Default("1")
  @Min(1)
  @JsonPropertyDescription("Expert groups (DeepSeek's num_groups); numExperts must be a multiple of it.")
  public Integer numExpertGroups;

  @Default("1")
  @Min(1)
  @JsonPropertyDescription("MoE layers whose placement is planned together.")
  public Integer numLayers;

  @Required
  @Min(128)
  @JsonPropertyDescription("Hidden size. A multiple of 128 (fp8 dispatch: of 512).")
  public Integer hidden;

  @Required
  @Min(1)
  @Max(16)
  @JsonPropertyDescription("Experts selected per token (1..16).")
  public Integer topK;

  @Default("128")
  @Min(1)
  @Max(1024)
  @JsonPropertyDescription("Most tokens one rank dispatches per step (1..1024; 1024 is the kernels' finish tag).")
  public Integer maxDispatchTokensPerRank;

  @Default("fp8")
  @JsonPropertyDescription("Dispatch payload type: fp8 (E4M3 with per-128-channel scales) or bf16.")
  public DispatchDtype dispatchDtype;

  public enum DispatchDtype {
    fp8,
    bf16
  }
}
