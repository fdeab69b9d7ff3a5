package io.elasticmoe.e2e.cluster;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A node whose kubelet stops goes NotReady; starting it again brings it back.
 *
 * <ol>
 *   <li>All nodes are Ready.
 *   <li>{@code cluster.sh node stop <last node>}: within the controller-manager's 16 s grace period
 *       plus margin, its Ready condition turns Unknown with reason NodeStatusUnknown; the other
 *       nodes stay Ready.
 *   <li>{@code cluster.sh node start <node>} (also run when the test fails): the node is Ready again
 *       and advertises its GPUs again.
 * </ol>
 */
class NodeFailureE2E {
  private static KubernetesClient client;

  @BeforeAll
  static void setUp() {
    client = LocalCluster.client();
  }

  @AfterAll
  static void tearDown() {
    client.close();
  }

  @Test
  void nodeWithStoppedKubeletGoesNotReadyAndRecovers() {
    List<Node> nodes = LocalCluster.nodes(client);
    assertThat(nodes).hasSizeGreaterThanOrEqualTo(2).allMatch(LocalCluster::ready);
    String victim = nodes.get(nodes.size() - 1).getMetadata().getName();
    String gpus = nodes.get(0).getStatus().getAllocatable().get(LocalCluster.GPU).getAmount();

    LocalCluster.clusterScript("node", "stop", victim);
    try {
      await(victim + " NotReady")
          .atMost(16 + 30, SECONDS)
          .untilAsserted(
              () -> {
                NodeCondition ready = readyCondition(victim);
                assertThat(ready.getStatus()).isEqualTo("Unknown");
                assertThat(ready.getReason()).isEqualTo("NodeStatusUnknown");
                assertThat(ready.getMessage()).isEqualTo("Kubelet stopped posting node status.");
              });
      for (Node other : nodes) {
        if (!other.getMetadata().getName().equals(victim)) {
          assertThat(readyCondition(other.getMetadata().getName()).getStatus()).isEqualTo("True");
        }
      }
    } finally {
      LocalCluster.clusterScript("node", "start", victim);
    }

    await(victim + " Ready again")
        .atMost(60, SECONDS)
        .untilAsserted(() -> assertThat(readyCondition(victim).getStatus()).isEqualTo("True"));
    assertThat(
            client.nodes().withName(victim).get().getStatus().getAllocatable().get(LocalCluster.GPU).getAmount())
        .isEqualTo(gpus);
  }

  private static NodeCondition readyCondition(String node) {
    NodeCondition ready =
        client.nodes().withName(node).get().getStatus().getConditions().stream()
            .filter(c -> "Ready".equals(c.getType()))
            .findFirst()
            .orElse(null);
    assertThat(ready).as("Ready condition of %s", node).isNotNull();
    return ready;
  }
}
