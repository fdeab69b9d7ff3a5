package io.elasticmoe.e2e.cluster;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.readiness.Readiness;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Deleting a pod stops its container on the node, checked in that node's containerd.
 *
 * <ol>
 *   <li>A pod whose process ignores SIGTERM (a shell as PID 1), grace period 4 s: after the delete,
 *       its container is gone from the node's containerd within 4 s + 6 s margin, and not before
 *       about 4 s (the kubelet waited for the grace period, then killed it). The pod object is gone
 *       later (the kubelet's status manager confirms deletions in 10 s batches).
 *   <li>A pod that exits on SIGTERM (the echo server), default grace period 30 s: its container is
 *       gone within 6 s, well before the grace period ends.
 * </ol>
 */
class PodDeletionE2E {
  /**
   * The container stops within the grace period; the pod object goes once the kubelet 1.20's status
   * manager sees the pod's resources reclaimed, in 10 s batches, which on a loaded 2-core machine
   * was seen to take up to about a minute.
   */
  private static final Duration KUBELET_CONFIRMS_DELETION = Duration.ofSeconds(90);

  private static KubernetesClient client;
  private static Namespace namespace;
  private static String ns;

  @BeforeAll
  static void setUp() {
    client = LocalCluster.client();
    namespace = LocalCluster.createNamespace(client, PodDeletionE2E.class);
    ns = namespace.getMetadata().getName();
  }

  @AfterAll
  static void tearDown() {
    LocalCluster.deleteNamespace(client, namespace);
    client.close();
  }

  @Test
  void containerIgnoringSigtermIsKilledWhenTheGracePeriodEnds() {
    Pod pod =
        Pods.shell("stubborn", "echo started; sleep 3600")
            .editSpec()
            .withTerminationGracePeriodSeconds(4L)
            .endSpec()
            .build();
    Running running = start(pod);

    long t0 = System.nanoTime();
    client.pods().inNamespace(ns).withName("stubborn").delete();
    awaitContainerGone(running, Duration.ofSeconds(4 + 6));
    long elapsedMs = (System.nanoTime() - t0) / 1_000_000;

    assertThat(elapsedMs).as("the kubelet waits for the grace period").isGreaterThanOrEqualTo(3_000);
    awaitPodGone("stubborn", KUBELET_CONFIRMS_DELETION);
  }

  @Test
  void containerExitingOnSigtermStopsPromptly() {
    Running running = start(Pods.echo("polite").build());

    client.pods().inNamespace(ns).withName("polite").delete();

    awaitContainerGone(running, Duration.ofSeconds(6));
    awaitPodGone("polite", KUBELET_CONFIRMS_DELETION);
  }

  private record Running(String node, String containerId) {}

  private Running start(Pod pod) {
    String name = pod.getMetadata().getName();
    client.pods().inNamespace(ns).resource(pod).create();
    await(name + " Running")
        .atMost(120, SECONDS)
        .until(
            () -> {
              Pod p = client.pods().inNamespace(ns).withName(name).get();
              return "Running".equals(p.getStatus().getPhase())
                  && (p.getSpec().getContainers().get(0).getReadinessProbe() == null
                      || Readiness.isPodReady(p));
            });
    Pod p = client.pods().inNamespace(ns).withName(name).get();
    String id = p.getStatus().getContainerStatuses().get(0).getContainerID().replace("containerd://", "");
    String node = p.getSpec().getNodeName();
    assertThat(LocalCluster.containerdContainers(node)).as("containers of %s", node).contains(id);
    return new Running(node, id);
  }

  private static void awaitContainerGone(Running running, Duration within) {
    await("container " + running.containerId() + " gone from " + running.node() + "'s containerd")
        .atMost(within.toMillis(), MILLISECONDS)
        .pollInterval(200, MILLISECONDS)
        .untilAsserted(
            () ->
                assertThat(LocalCluster.containerdContainers(running.node()))
                    .doesNotContain(running.containerId()));
  }

  private static void awaitPodGone(String name, Duration within) {
    await(name + " gone from the API")
        .atMost(within.toMillis(), MILLISECONDS)
        .pollInterval(250, MILLISECONDS)
        .untilAsserted(() -> assertThat(client.pods().inNamespace(ns).withName(name).get()).isNull());
  }
}
