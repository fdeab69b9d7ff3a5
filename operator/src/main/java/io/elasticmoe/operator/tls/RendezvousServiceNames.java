package io.elasticmoe.operator.tls;

import java.util.List;

/**
 * The names under which rank pods reach the operator's rendezvous Service, i.e. the names its server
 * certificate must carry. Pods dial the ClusterIP (the local cluster has no DNS), so they verify the
 * certificate against {@link #serverName()} rather than the address they connect to.
 *
 * @param service the operator's Service (the chart's {@code elasticmoe-operator})
 * @param namespace the operator's namespace
 */
public record RendezvousServiceNames(String service, String namespace) {
  public RendezvousServiceNames {
    if (service == null || service.isBlank() || namespace == null || namespace.isBlank()) {
      throw new IllegalArgumentException(
          "the rendezvous Service needs a name and a namespace; got '" + service + "' in '" + namespace + "'");
    }
  }

  /** Every DNS name of the Service, short to fully qualified (the certificate's subject alternative names). */
  public List<String> dnsNames() {
    return List.of(
        service,
        service + "." + namespace,
        service + "." + namespace + ".svc",
        service + "." + namespace + ".svc.cluster.local");
  }

  /** The name workers check the certificate against: valid in every cluster domain. */
  public String serverName() {
    return service + "." + namespace + ".svc";
  }
}
