package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.Objects;

/** Where the deployment's TCPStore endpoint is served (docs/tcpstore.md); absent while it is off. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class TcpStoreStatus {

  @JsonPropertyDescription(
      "The endpoint's Service as <namespace>/<name>; it lives in the operator's namespace, where the "
          + "listener runs.")
  public String service;

  @JsonPropertyDescription(
      "host:port that rank pods dial (the Service's ClusterIP and spec.rendezvous.tcpStore.port); "
          + "rank pods get it as EMD_TCPSTORE_HOST and EMD_TCPSTORE_PORT.")
  public String address;

  @JsonPropertyDescription(
      "The operator-side port of this deployment's listener, from the operator's configured range; "
          + "kept across reconciles and operator restarts.")
  public Integer listenerPort;

  public TcpStoreStatus() {}

  public TcpStoreStatus(String service, String address, Integer listenerPort) {
    this.service = service;
    this.address = address;
    this.listenerPort = listenerPort;
  }

  // The reconciler writes status only when it changed, comparing by value.
  @Override
  public boolean equals(Object o) {
    return o instanceof TcpStoreStatus other
        && Objects.equals(service, other.service)
        && Objects.equals(address, other.address)
        && Objects.equals(listenerPort, other.listenerPort);
  }

  @Override
  public int hashCode() {
    return Objects.hash(service, address, listenerPort);
  }
}
