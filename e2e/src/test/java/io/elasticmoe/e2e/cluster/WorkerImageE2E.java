package io.elasticmoe.e2e.cluster;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The worker image, built by e2e/images/build.sh from worker/target, is loaded on every node and
 * its Java runtime starts in a pod (skipped with a reason when the worker jar was not built).
 */
class WorkerImageE2E {
  private static KubernetesClient client;
  private static Namespace namespace;

  @BeforeAll
  static void setUp() {
    client = LocalCluster.client();
    assumeThat(LocalCluster.nodes(client))
        .as("%s is loaded (build worker/target/elasticmoe-worker.jar, then cluster.sh images)", LocalCluster.WORKER)
        .allMatch(n -> LocalCluster.hasImage(n, LocalCluster.WORKER));
    namespace = LocalCluster.createNamespace(client, WorkerImageE2E.class);
  }

  @AfterAll
  static void tearDown() {
    LocalCluster.deleteNamespace(client, namespace);
    client.close();
  }

  @Test
  void workerImageRunsItsJavaRuntime() {
    String ns = namespace.getMetadata().getName();
    Pod pod =
        new PodBuilder()
            .withNewMetadata()
            .withName("worker-java")
            .endMetadata()
            .withNewSpec()
            .withRestartPolicy("Never")
            .withContainers(
                new ContainerBuilder()
                    .withName("java")
                    .withImage(LocalCluster.WORKER)
                    .withImagePullPolicy("Never")
                    // With the worker's modules: the image's jlink'd runtime must hold the Vector API's.
                    .withCommand("/opt/java/bin/java", "--add-modules", "jdk.incubator.vector",
                        "-XshowSettings:properties", "-version")
                    .build())
            .endSpec()
            .build();
    client.pods().inNamespace(ns).resource(pod).create();
    await("worker-java finished")
        .atMost(120, SECONDS)
        .until(
            () -> client.pods().inNamespace(ns).withName("worker-java").get().getStatus().getPhase(),
            p -> p.equals("Succeeded") || p.equals("Failed"));

    String logs = client.pods().inNamespace(ns).withName("worker-java").getLog();
    assertThat(client.pods().inNamespace(ns).withName("worker-java").get().getStatus().getPhase())
        .as("logs: %s", logs)
        .isEqualTo("Succeeded");
    assertThat(logs).contains("java.home = /opt/java").contains("user.dir = /app").contains("version \"25");
  }
}
