package io.elasticmoe.e2e.cluster;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code nvidia.com/gpu} as the scheduler sees it on the local cluster.
 *
 * <ol>
 *   <li>Every node advertises the same number G &gt; 0 of GPUs (capacity and allocatable) and a
 *       {@code topology.kubernetes.io/zone} label.
 *   <li>A pod asking for G+1 GPUs stays Pending: PodScheduled=False/Unschedulable and a
 *       FailedScheduling event naming {@code Insufficient nvidia.com/gpu}.
 *   <li>One pod per node asking for exactly G GPUs runs, each on a different node; one more such pod
 *       stays Pending for the same reason.
 * </ol>
 */
class GpuSchedulingE2E {
  private static KubernetesClient client;
  private static Namespace namespace;
  private static String ns;
  private static int gpusPerNode;
  private static List<Node> nodes;

  @BeforeAll
  static void setUp() {
    client = LocalCluster.client();
    namespace = LocalCluster.createNamespace(client, GpuSchedulingE2E.class);
    ns = namespace.getMetadata().getName();
    nodes = LocalCluster.nodes(client);
    gpusPerNode =
        Integer.parseInt(nodes.get(0).getStatus().getAllocatable().get(LocalCluster.GPU).getAmount());
  }

  @AfterAll
  static void tearDown() {
    LocalCluster.deleteNamespace(client, namespace);
    client.close();
  }

  @Test
  void everyNodeAdvertisesGpusAndAZone() {
    assertThat(nodes).hasSizeGreaterThanOrEqualTo(2);
    assertThat(gpusPerNode).isPositive();
    for (Node node : nodes) {
      assertThat(node.getStatus().getCapacity().get(LocalCluster.GPU).getAmount())
          .isEqualTo(Integer.toString(gpusPerNode));
      assertThat(node.getStatus().getAllocatable().get(LocalCluster.GPU).getAmount())
          .isEqualTo(Integer.toString(gpusPerNode));
      assertThat(node.getMetadata().getLabels())
          .containsKey("topology.kubernetes.io/zone")
          .containsEntry("kubernetes.io/hostname", node.getMetadata().getName());
    }
  }

  @Test
  void podAskingForMoreGpusThanAnyNodeHasStaysPending() {
    client.pods().inNamespace(ns).resource(Pods.gpuSleeper("too-big", gpusPerNode + 1)).create();

    awaitUnschedulableForGpus("too-big");
    await("too-big stays Pending")
        .during(5, SECONDS)
        .atMost(8, SECONDS)
        .until(() -> pod("too-big").getStatus().getPhase(), "Pending"::equals);
    assertThat(pod("too-big").getSpec().getNodeName()).isNull();
  }

  @Test
  void podsAskingForAWholeNodeFillEveryNodeThenTheNextStaysPending() {
    for (int i = 0; i < nodes.size(); i++) {
      client.pods().inNamespace(ns).resource(Pods.gpuSleeper("whole-" + i, gpusPerNode)).create();
    }
    await("every whole-node pod Running")
        .atMost(120, SECONDS)
        .untilAsserted(
            () -> {
              for (int i = 0; i < nodes.size(); i++) {
                assertThat(pod("whole-" + i).getStatus().getPhase()).isEqualTo("Running");
              }
            });
    Set<String> used = new HashSet<>();
    for (int i = 0; i < nodes.size(); i++) {
      used.add(pod("whole-" + i).getSpec().getNodeName());
    }
    assertThat(used).as("one whole-node pod per node").hasSize(nodes.size());

    client.pods().inNamespace(ns).resource(Pods.gpuSleeper("one-more", 1)).create();

    awaitUnschedulableForGpus("one-more");
    assertThat(pod("one-more").getStatus().getPhase()).isEqualTo("Pending");
  }

  private static void awaitUnschedulableForGpus(String name) {
    await(name + " unschedulable for nvidia.com/gpu")
        .atMost(60, SECONDS)
        .untilAsserted(
            () -> {
              PodCondition scheduled =
                  pod(name).getStatus().getConditions().stream()
                      .filter(c -> "PodScheduled".equals(c.getType()))
                      .findFirst()
                      .orElse(null);
              assertThat(scheduled).as("PodScheduled condition of %s", name).isNotNull();
              assertThat(scheduled.getStatus()).isEqualTo("False");
              assertThat(scheduled.getReason()).isEqualTo("Unschedulable");
              List<Event> failed =
                  client.v1().events().inNamespace(ns).list().getItems().stream()
                      .filter(e -> name.equals(e.getInvolvedObject().getName()))
                      .filter(e -> "FailedScheduling".equals(e.getReason()))
                      .toList();
              assertThat(failed).isNotEmpty();
              assertThat(failed.get(0).getMessage())
                  .contains("0/" + nodes.size() + " nodes are available")
                  .contains(nodes.size() + " Insufficient nvidia.com/gpu");
            });
  }

  private static Pod pod(String name) {
    return client.pods().inNamespace(ns).withName(name).get();
  }
}
