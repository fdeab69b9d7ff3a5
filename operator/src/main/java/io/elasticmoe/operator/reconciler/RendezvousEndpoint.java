package io.elasticmoe.operator.reconciler;

import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.client.KubernetesClient;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The address rank pods dial for the rendezvous. The local cluster has no DNS and Service environment
 * variables reach only pods in the operator's own namespace, so the operator passes its Service's
 * ClusterIP explicitly (EMD_RENDEZVOUS), unless an address is configured.
 */
@ApplicationScoped
public class RendezvousEndpoint {
  private final KubernetesClient client;
  private final Optional<String> configured;
  private final String namespace;
  private final String service;
  private final int port;

  public RendezvousEndpoint(
      KubernetesClient client,
      @ConfigProperty(name = "elasticmoe.rendezvous.address") Optional<String> configured,
      @ConfigProperty(name = "elasticmoe.operator.namespace", defaultValue = "elasticmoe-system") String namespace,
      @ConfigProperty(name = "elasticmoe.operator.service", defaultValue = "elasticmoe-operator") String service,
      @ConfigProperty(name = "quarkus.grpc.server.port", defaultValue = "9090") int port) {
    this.client = client;
    this.configured = configured;
    this.namespace = namespace;
    this.service = service;
    this.port = port;
  }

  /** host:port, or empty while the operator's Service does not exist yet (reconcile again later). */
  public Optional<String> address() {
    if (configured.isPresent()) {
      return configured;
    }
    Service svc = client.services().inNamespace(namespace).withName(service).get();
    if (svc == null || svc.getSpec().getClusterIP() == null) {
      return Optional.empty();
    }
    return Optional.of(svc.getSpec().getClusterIP() + ":" + port);
  }

  String describe() {
    return configured.map(a -> "configured address " + a)
        .orElse("Service " + namespace + "/" + service);
  }
}
