package io.elasticmoe.operator.reconciler;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.TcpStoreStatus;
import io.elasticmoe.operator.model.TcpStoreResources;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.tcpstore.TcpStoreEndpoints;
import io.elasticmoe.operator.tcpstore.TcpStoreResourceManager;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The reconcile step of a deployment's TCPStore endpoint (docs/tcpstore.md): while
 * spec.rendezvous.tcpStore.enabled is true, its listener runs on a port of the operator's range and
 * its NetworkPolicy and Service exist; otherwise, and once the deployment is deleted, none of them do.
 * Keys stay in the rendezvous store either way: they belong to the deployment, not to the protocol.
 */
@ApplicationScoped
public class TcpStoreLifecycle {
  private static final Logger LOG = Logger.getLogger(TcpStoreLifecycle.class);

  private final TcpStoreEndpoints endpoints;
  private final TcpStoreResourceManager resources;
  private final TcpStoreResources.OperatorPods operatorPods;

  public TcpStoreLifecycle(
      TcpStoreEndpoints endpoints,
      TcpStoreResourceManager resources,
      @ConfigProperty(name = "elasticmoe.operator.namespace", defaultValue = "elasticmoe-system") String namespace,
      @ConfigProperty(
              name = "elasticmoe.operator.pod-selector",
              defaultValue = "app.kubernetes.io/name=elasticmoe-operator,app.kubernetes.io/instance=elasticmoe")
          String podSelector) {
    this.endpoints = endpoints;
    this.resources = resources;
    this.operatorPods = TcpStoreResources.OperatorPods.parse(namespace, podSelector);
  }

  /** Serves or withdraws the endpoint as the spec asks; returns what status.tcpStore should say. */
  public Optional<TcpStoreStatus> reconcile(ElasticMoEDeployment emd) {
    DeploymentKey key = key(emd);
    if (!TcpStoreResources.enabled(emd)) {
      boolean wasServed = endpoints.remove(key);
      // The status still naming an endpoint means its objects may exist (a restart since, or a failed delete).
      if (wasServed || previous(emd).isPresent()) {
        resources.delete(operatorPods.namespace(), resourceName(emd));
        LOG.infof("%s: TCPStore endpoint disabled; listener stopped, Service and NetworkPolicy deleted", key);
      }
      return Optional.empty();
    }
    // The port in status survives an operator restart, so the Service's targetPort stays valid.
    int listenerPort = endpoints.serve(key, previous(emd).map(s -> s.listenerPort).orElse(null));
    TcpStoreResources desired = TcpStoreResources.fromSpec(emd, operatorPods, listenerPort).orElseThrow();
    String clusterIp = resources.apply(desired, emd.getMetadata().getNamespace());
    return Optional.of(desired.generateStatus(clusterIp));
  }

  /** The deployment is being deleted: its objects live in another namespace, out of reach of GC. */
  public void remove(ElasticMoEDeployment emd) {
    endpoints.remove(key(emd));
    resources.delete(operatorPods.namespace(), resourceName(emd));
  }

  private static Optional<TcpStoreStatus> previous(ElasticMoEDeployment emd) {
    return Optional.ofNullable(emd.getStatus()).map(s -> s.tcpStore);
  }

  private static String resourceName(ElasticMoEDeployment emd) {
    return TcpStoreResources.resourceName(emd.getMetadata().getNamespace(), emd.getMetadata().getName());
  }

  private static DeploymentKey key(ElasticMoEDeployment emd) {
    return new DeploymentKey(emd.getMetadata().getNamespace(), emd.getMetadata().getName());
  }
}
