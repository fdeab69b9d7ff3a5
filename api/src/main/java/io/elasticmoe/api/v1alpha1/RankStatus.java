package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** One rank of the committed epoch. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class RankStatus {

  @JsonPropertyDescription("EP rank; sticky: a replacement pod keeps it.")
  public Integer rank;

  @JsonPropertyDescription("Name of the pod holding the rank.")
  public String pod;

  @JsonPropertyDescription("UID of that pod: fences a stale pod that still claims the rank.")
  public String uid;

  @JsonPropertyDescription("Node the pod runs on.")
  public String node;

  @JsonPropertyDescription("Joining, Active, Suspected, Draining, Lost.")
  public RankState state;

  public RankStatus() {}

  public RankStatus(int rank, String pod, String uid, String node, RankState state) {
    this.rank = rank;
    this.pod = pod;
    this.uid = uid;
    this.node = node;
    this.state = state;
  }

  public enum RankState {
    Joining,
    Active,
    Suspected,
    Draining,
    Lost
  }
}
