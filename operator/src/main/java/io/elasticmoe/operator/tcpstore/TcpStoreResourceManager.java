package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.operator.model.TcpStoreResources;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.client.KubernetesClient;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.HashMap;
import java.util.Map;
import org.jboss.logging.Logger;

/**
 * Writes the Kubernetes objects of a deployment's TCPStore endpoint ({@link TcpStoreResources}) and
 * deletes them: the only class that touches them. No decisions: what to write comes from the model.
 */
@ApplicationScoped
public class TcpStoreResourceManager {
  private static final Logger LOG = Logger.getLogger(TcpStoreResourceManager.class);

  private final KubernetesClient client;

  public TcpStoreResourceManager(KubernetesClient client) {
    this.client = client;
  }

  /**
   * Applies the NetworkPolicy, then the Service (so the port is never exposed unguarded), after
   * labelling the deployment's namespace when its policy peer needs it. Returns the Service's ClusterIP.
   */
  public String apply(TcpStoreResources resources, String deploymentNamespace) {
    labelNamespace(deploymentNamespace);
    client.resource(resources.generateNetworkPolicy()).forceConflicts().serverSideApply();
    Service applied = client.resource(resources.generateService()).forceConflicts().serverSideApply();
    return applied.getSpec().getClusterIP();
  }

  private void labelNamespace(String namespace) {
    Namespace current = client.namespaces().withName(namespace).get();
    Map<String, String> missing =
        TcpStoreResources.namespaceLabelsToAdd(
            namespace, current == null ? null : current.getMetadata().getLabels());
    if (current == null || missing.isEmpty()) {
      return;
    }
    client.namespaces().withName(namespace).edit(ns -> {
      Map<String, String> labels = new HashMap<>(ns.getMetadata().getLabels() == null ? Map.of() : ns.getMetadata().getLabels());
      labels.putAll(missing);
      ns.getMetadata().setLabels(labels);
      return ns;
    });
    LOG.infof("namespace %s: added labels %s (Kubernetes < 1.21 does not set them) for the TCPStore NetworkPolicy",
        namespace, missing);
  }

  /** Deletes the Service and NetworkPolicy named {@code name}; a missing one is fine. */
  public void delete(String operatorNamespace, String name) {
    client.services().inNamespace(operatorNamespace).withName(name).delete();
    client.network().v1().networkPolicies().inNamespace(operatorNamespace).withName(name).delete();
  }
}
