package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.model.annotation.LabelSelector;
import io.fabric8.kubernetes.model.annotation.StatusReplicas;
import java.util.List;

/**
 * Observed state. The rendezvous fields (epoch, worldSize, ranks, placementVersion) are the committed
 * membership: they are written here before workers hear of them, so a new operator leader resumes them.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ElasticMoEDeploymentStatus {

  @JsonPropertyDescription("The metadata.generation this status describes.")
  public Long observedGeneration;

  @StatusReplicas
  @JsonPropertyDescription("Rank pods that exist (scale subresource).")
  public Integer replicas;

  @JsonPropertyDescription("Rank pods that are Ready.")
  public Integer readyReplicas;

  @LabelSelector
  @JsonPropertyDescription("Label selector matching every rank pod (scale subresource; used by HPA).")
  public String selector;

  @JsonPropertyDescription("Ranks in the committed epoch.")
  public Integer worldSize;

  @JsonPropertyDescription("Committed rendezvous epoch: a strictly increasing fencing token.")
  public Long epoch;

  @JsonPropertyDescription("Per-rank table of the committed epoch.")
  public List<RankStatus> ranks;

  @JsonPropertyDescription("Version of the expert placement workers are asked to use.")
  public Long placementVersion;

  @JsonPropertyDescription(
      "Logical experts whose replicas all live in one failure domain (placement.spreadKey).")
  public List<Integer> expertsAtRisk;

  @JsonPropertyDescription(
      "The TCPStore endpoint (spec.rendezvous.tcpStore), while it is enabled and served.")
  public TcpStoreStatus tcpStore;

  @JsonPropertyDescription("Available, Progressing, Resizing, Degraded, Failed.")
  public List<Condition> conditions;
}
