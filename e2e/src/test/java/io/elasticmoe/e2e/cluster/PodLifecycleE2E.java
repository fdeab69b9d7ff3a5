package io.elasticmoe.e2e.cluster;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.readiness.Readiness;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A pod from our own image on the real local cluster.
 *
 * <ol>
 *   <li>An echo pod without a node name is bound by kube-scheduler to one of the nodes (event
 *       {@code Scheduled}), runs and becomes Ready.
 *   <li>{@code kubectl logs} (API server → that node's kubelet → containerd's log file) shows its
 *       start-up line.
 *   <li>A ClusterIP Service (kube-proxy iptables rules) routes to it from a pod on every node, and
 *       the echo pod logs each request.
 * </ol>
 */
class PodLifecycleE2E {
  private static KubernetesClient client;
  private static Namespace namespace;
  private static String ns;

  @BeforeAll
  static void setUp() {
    client = LocalCluster.client();
    namespace = LocalCluster.createNamespace(client, PodLifecycleE2E.class);
    ns = namespace.getMetadata().getName();
    client.pods().inNamespace(ns).resource(Pods.echo("echo").build()).create();
    await("echo pod Ready")
        .atMost(120, SECONDS)
        .until(() -> Readiness.isPodReady(client.pods().inNamespace(ns).withName("echo").get()));
  }

  @AfterAll
  static void tearDown() {
    LocalCluster.deleteNamespace(client, namespace);
    client.close();
  }

  @Test
  void schedulerBindsThePodToANodeAndItRuns() {
    Pod pod = client.pods().inNamespace(ns).withName("echo").get();
    List<String> nodeNames =
        LocalCluster.nodes(client).stream().map(n -> n.getMetadata().getName()).toList();

    assertThat(pod.getSpec().getNodeName()).isIn(nodeNames);
    assertThat(pod.getStatus().getPhase()).isEqualTo("Running");
    assertThat(pod.getStatus().getPodIP()).startsWith("10.88.");
    assertThat(pod.getStatus().getContainerStatuses().get(0).getContainerID()).startsWith("containerd://");
    await("Scheduled event from default-scheduler")
        .atMost(30, SECONDS)
        .untilAsserted(
            () -> {
              List<Event> scheduled =
                  client.v1().events().inNamespace(ns).list().getItems().stream()
                      .filter(e -> "echo".equals(e.getInvolvedObject().getName()))
                      .filter(e -> "Scheduled".equals(e.getReason()))
                      .toList();
              assertThat(scheduled).hasSize(1);
              assertThat(scheduled.get(0).getMessage())
                  .isEqualTo("Successfully assigned " + ns + "/echo to " + pod.getSpec().getNodeName());
            });
  }

  @Test
  void logsAreReadableThroughTheApiServer() {
    String logs = client.pods().inNamespace(ns).withName("echo").getLog();

    assertThat(logs).contains("echo: listening on 8080 java=25");
  }

  @Test
  void clusterIpServiceRoutesToThePodFromEveryNode() {
    Service service =
        client
            .services()
            .inNamespace(ns)
            .resource(
                new ServiceBuilder()
                    .withNewMetadata()
                    .withName("echo")
                    .endMetadata()
                    .withNewSpec()
                    .withSelector(Map.of("app", "echo"))
                    .addNewPort()
                    .withPort(80)
                    .withNewTargetPort(8080)
                    .endPort()
                    .endSpec()
                    .build())
            .create();
    String clusterIp = service.getSpec().getClusterIP();
    assertThat(clusterIp).startsWith("10.0.0.");

    for (Node node : LocalCluster.nodes(client)) {
      String nodeName = node.getMetadata().getName();
      String client1 = "client-" + nodeName;
      // kube-proxy programs the rules within about a second; the client retries until then.
      // (No `wget -T`: busybox 1.35 crashes on it.)
      String script =
          "for i in $(seq 1 30); do timeout 5 wget -q -O- http://" + clusterIp + "/from-" + nodeName
              + " && exit 0; sleep 1; done; exit 1";
      client
          .pods()
          .inNamespace(ns)
          .resource(Pods.shell(client1, script).editSpec().withNodeName(nodeName).endSpec().build())
          .create();
      await(client1 + " Succeeded")
          .atMost(90, SECONDS)
          .until(() -> phase(client1), p -> p.equals("Succeeded") || p.equals("Failed"));

      assertThat(phase(client1)).as("logs: %s", log(client1)).isEqualTo("Succeeded");
      assertThat(log(client1)).isEqualTo("echo host=echo path=/from-" + nodeName + "\n");
    }
    String serverLog = log("echo");
    for (Node node : LocalCluster.nodes(client)) {
      assertThat(serverLog).contains("path=/from-" + node.getMetadata().getName());
    }
  }

  private static String phase(String pod) {
    Pod p = client.pods().inNamespace(ns).withName(pod).get();
    return p == null || p.getStatus() == null ? "" : String.valueOf(p.getStatus().getPhase());
  }

  private static String log(String pod) {
    return client.pods().inNamespace(ns).withName(pod).getLog();
  }
}
