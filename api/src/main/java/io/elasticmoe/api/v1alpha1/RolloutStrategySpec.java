package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;

/** Rank-by-rank rollout of a changed worker template. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class RolloutStrategySpec {

  @Default("RankByRank")
  @JsonPropertyDescription("RankByRank replaces rank pods one at a time, never dropping below minAvailableRanks.")
  public Type type;

  @Default("1")
  @Min(1)
  @JsonPropertyDescription("Ranks that may be unavailable at once during a rollout.")
  public Integer maxUnavailable;

  public enum Type {
    RankByRank
  }
}
