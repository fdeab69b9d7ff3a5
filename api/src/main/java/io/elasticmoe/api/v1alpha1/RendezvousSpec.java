package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;

/** Timing of the operator-hosted rendezvous (membership, store, placement). */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class RendezvousSpec {

  @Default("2s")
  @Pattern(Durations.PATTERN)
  @JsonPropertyDescription("How often each worker sends a heartbeat.")
  public String heartbeatInterval;

  @Default("3")
  @Min(1)
  @Max(100)
  @JsonPropertyDescription(
      "Missed heartbeats after which a rank is suspected. A suspect is declared lost only once its pod "
          + "is gone or NotReady.")
  public Integer missedHeartbeatThreshold;

  @Default("120s")
  @Pattern(Durations.PATTERN)
  @JsonPropertyDescription(
      "Last-call timeout: an epoch whose planned ranks have not all joined commits after this long if at "
          + "least minAvailableRanks have.")
  public String joinTimeout;

  @JsonPropertyDescription(
      "A PyTorch-TCPStore-compatible endpoint on this deployment's store; off by default. The TCPStore "
          + "protocol has no authentication: a NetworkPolicy restricts the endpoint to this deployment's "
          + "pods.")
  public TcpStoreSpec tcpStore;
}
