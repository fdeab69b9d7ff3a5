package io.elasticmoe.operator.nodes;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.HashMap;
import java.util.Map;

/** Reads the failure domain of nodes: the value of the deployment's spreadKey label. */
@ApplicationScoped
public class NodeFailureDomains {
  private final KubernetesClient client;

  public NodeFailureDomains(KubernetesClient client) {
    this.client = client;
  }

  /** Per node name, its domain; a node without the label is its own domain (its name). */
  public Map<String, String> domains(Iterable<String> nodeNames, String spreadKey) {
    Map<String, String> byNode = new HashMap<>();
    for (String nodeName : nodeNames) {
      if (byNode.containsKey(nodeName)) {
        continue;
      }
      Node node = client.nodes().withName(nodeName).get();
      String domain = node == null || node.getMetadata().getLabels() == null
          ? null : node.getMetadata().getLabels().get(spreadKey);
      byNode.put(nodeName, domain == null ? nodeName : domain);
    }
    return byNode;
  }
}
