package io.elasticmoe.e2e.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The operator keeps one pod per rank, with sticky rank numbers.
 *
 * <ol>
 *   <li>Applying a 4-rank deployment creates pods for ranks 0..3, spread by the scheduler over the nodes.
 *   <li>{@code kubectl scale --replicas=6} adds ranks 4 and 5; ranks 0..3 keep their pods.
 *   <li>Deleting rank 1's pod brings a new pod (new uid) back with rank 1.
 *   <li>{@code kubectl scale --replicas=3} removes ranks 3..5, highest first.
 *   <li>{@code kubectl scale --replicas=1} (below minAvailableRanks 2) is refused: 3 ranks stay, with a
 *       ScaleDownBlocked condition.
 * </ol>
 */
class RankPodsE2E {
  private static final Duration TIMEOUT = Duration.ofSeconds(120);
  private static KubernetesClient client;
  private static String namespace;

  @BeforeAll
  static void createNamespace() {
    client = LocalCluster.client();
    namespace = LocalCluster.createNamespace(client, "rank-pods");
  }

  @AfterAll
  static void deleteNamespace() {
    client.namespaces().withName(namespace).delete();
    client.close();
  }

  @Test
  void ranksAreStickyThroughScaleAndReplacement() throws Exception {
    LocalCluster.kubectl("apply", "-n", namespace, "-f",
        LocalCluster.repoRoot().resolve("examples/cpu-small.yaml").toString());
    Map<Integer, String> initial = awaitRanks(List.of(0, 1, 2, 3));
    assertThat(nodesOf(rankPods())).as("the scheduler uses more than one node").hasSizeGreaterThan(1);

    LocalCluster.kubectl("scale", "-n", namespace, "emd/moe-cpu", "--replicas=6");
    Map<Integer, String> scaledUp = awaitRanks(List.of(0, 1, 2, 3, 4, 5));
    for (int rank = 0; rank < 4; rank++) {
      assertThat(scaledUp.get(rank)).as("rank %d keeps its pod", rank).isEqualTo(initial.get(rank));
    }

    client.pods().inNamespace(namespace).withName("moe-cpu-rank-1").withGracePeriod(0).delete();
    await().atMost(TIMEOUT).untilAsserted(() -> {
      Map<Integer, String> now = uidsByRank();
      assertThat(now).containsOnlyKeys(0, 1, 2, 3, 4, 5);
      assertThat(now.get(1)).as("rank 1 is replaced by a new pod").isNotEqualTo(scaledUp.get(1));
    });

    LocalCluster.kubectl("scale", "-n", namespace, "emd/moe-cpu", "--replicas=3");
    awaitRanks(List.of(0, 1, 2));

    LocalCluster.kubectl("scale", "-n", namespace, "emd/moe-cpu", "--replicas=1");
    await().atMost(TIMEOUT).untilAsserted(() -> assertThat(
            LocalCluster.kubectl("get", "emd", "moe-cpu", "-n", namespace, "-o",
                "jsonpath={.status.conditions[?(@.type==\"Resizing\")].reason}"))
        .isEqualTo("ScaleDownBlocked"));
    assertThat(uidsByRank()).containsOnlyKeys(0, 1, 2);
  }

  private List<Pod> rankPods() {
    return client.pods().inNamespace(namespace).withLabel("elasticmoe.io/deployment", "moe-cpu").list().getItems()
        .stream().filter(p -> p.getMetadata().getDeletionTimestamp() == null).toList();
  }

  private Map<Integer, String> uidsByRank() {
    return rankPods().stream().collect(Collectors.toMap(
        p -> Integer.parseInt(p.getMetadata().getLabels().get("elasticmoe.io/rank")), p -> p.getMetadata().getUid()));
  }

  private static java.util.Set<String> nodesOf(List<Pod> pods) {
    return pods.stream().map(p -> p.getSpec().getNodeName()).filter(n -> n != null).collect(Collectors.toSet());
  }

  private Map<Integer, String> awaitRanks(List<Integer> ranks) {
    await().atMost(TIMEOUT).untilAsserted(() -> {
      assertThat(uidsByRank()).containsOnlyKeys(ranks.toArray(Integer[]::new));
      assertThat(rankPods()).allSatisfy(p -> assertThat(p.getSpec().getNodeName()).as("scheduled").isNotNull());
    });
    return uidsByRank();
  }
}
