package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;

/** What the operator does when a rank is lost. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class FailurePolicySpec {

  @Default("ReplaceRank")
  @JsonPropertyDescription(
      "ReplaceRank: survivors mask the lost rank and a replacement pod rejoins with the same rank. Shrink: "
          + "the world continues without it. RecreateAll: every rank is restarted (a new world).")
  public Policy policy;

  @Default("5m")
  @Pattern(Durations.PATTERN)
  @JsonPropertyDescription("How long a replacement may take to rejoin before the rank is given up (Shrink).")
  public String replaceTimeout;

  @Default("10")
  @Min(0)
  @JsonPropertyDescription("Most recoveries within recoveryWindow before the deployment is marked Failed.")
  public Integer maxRecoveries;

  @Default("1h")
  @Pattern(Durations.PATTERN)
  @JsonPropertyDescription("Window over which maxRecoveries is counted.")
  public String recoveryWindow;

  public enum Policy {
    ReplaceRank,
    Shrink,
    RecreateAll
  }
}
