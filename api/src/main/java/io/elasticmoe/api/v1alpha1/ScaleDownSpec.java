package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import java.util.List;

/** Which ranks leave on scale-down, and how long they may drain. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ScaleDownSpec {

  @Default("HighestFirst")
  @JsonPropertyDescription("HighestFirst removes the highest ranks; Explicit removes the ranks listed in ranks.")
  public RankSelection rankSelection;

  @JsonPropertyDescription("With rankSelection Explicit: the ranks to remove first.")
  public List<Integer> ranks;

  @Default("60s")
  @Pattern(Durations.PATTERN)
  @JsonPropertyDescription("How long a leaving rank may drain in-flight steps before its pod is deleted.")
  public String drainTimeout;

  public enum RankSelection {
    HighestFirst,
    Explicit
  }
}
