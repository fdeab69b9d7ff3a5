package io.elasticmoe.e2e.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.TcpStoreStatus;
import io.fabric8.kubernetes.api.model.EndpointAddress;
import io.fabric8.kubernetes.api.model.Endpoints;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A deployment's PyTorch-TCPStore-compatible endpoint (docs/tcpstore.md), served by the operator.
 *
 * <ol>
 *   <li>Applying a 2-rank deployment with {@code spec.rendezvous.tcpStore.enabled: true} reports
 *       status.tcpStore; its Service (operator namespace) forwards the spec port to the listener port
 *       and its endpoints are the operator pod; rank pods carry EMD_TCPSTORE_HOST/PORT = that address.
 *   <li>The NetworkPolicy selects the operator pod and admits, on the listener port only, pods with
 *       the deployment's labels in a namespace labelled {@code kubernetes.io/metadata.name} (which the
 *       operator adds on this v1.20 cluster). The bridge CNI does not enforce it: not tested here.
 *   <li>A TCPStore client in a pod with the deployment's labels sets and gets a key through the
 *       Service, and reads the connect-barrier counter the workers wrote through the gRPC Store.
 *   <li>After the operator pod is replaced, the new operator serves the deployment on the same
 *       listener port (from status.tcpStore), so the Service is unchanged and clients reconnect to it.
 *       The store itself is the operator's memory: keys written before are gone.
 *   <li>Setting {@code enabled: false} deletes the Service and the NetworkPolicy and clears
 *       status.tcpStore; enabling it again restores them; deleting the deployment deletes them.
 * </ol>
 */
class TcpStoreE2E {
  private static final Duration TIMEOUT = Duration.ofSeconds(180);
  private static final String NAME = "moe-tcpstore";
  private static final String TESTBOX = "docker.io/elasticmoe/testbox:dev";
  private static KubernetesClient client;
  private static String namespace;
  private static String resourceName;

  @BeforeAll
  static void createNamespace() {
    client = LocalCluster.client();
    namespace = LocalCluster.createNamespace(client, "tcpstore");
    resourceName = "tcpstore-" + namespace + "-" + NAME;
  }

  @AfterAll
  static void deleteNamespace() {
    client.namespaces().withName(namespace).delete();
    client.close();
  }

  @Test
  void endpointIsServedGuardedAndWithdrawn() throws Exception {
    apply(true);
    TcpStoreStatus served = awaitServed();

    // 1. Service → operator pod, rank pods told where it is.
    assertThat(served.service).isEqualTo(LocalCluster.OPERATOR_NAMESPACE + "/" + resourceName);
    Service service = client.services().inNamespace(LocalCluster.OPERATOR_NAMESPACE).withName(resourceName).get();
    assertThat(served.address).isEqualTo(service.getSpec().getClusterIP() + ":29500");
    assertThat(service.getSpec().getPorts()).singleElement().satisfies(port -> {
      assertThat(port.getPort()).isEqualTo(29500);
      assertThat(port.getTargetPort().getIntVal()).isEqualTo(served.listenerPort);
    });
    Pod operator = operatorPod();
    await().atMost(TIMEOUT).untilAsserted(() -> {
      Endpoints endpoints =
          client.endpoints().inNamespace(LocalCluster.OPERATOR_NAMESPACE).withName(resourceName).get();
      assertThat(endpoints.getSubsets()).singleElement().satisfies(subset -> {
        assertThat(subset.getAddresses()).extracting(EndpointAddress::getIp)
            .containsExactly(operator.getStatus().getPodIP());
        assertThat(subset.getPorts()).singleElement()
            .satisfies(p -> assertThat(p.getPort()).isEqualTo(served.listenerPort));
      });
    });
    await().atMost(TIMEOUT).untilAsserted(() -> assertThat(rankPods()).hasSize(2).allSatisfy(pod -> {
      Map<String, String> env = envOf(pod);
      assertThat(env.get("EMD_TCPSTORE_HOST") + ":" + env.get("EMD_TCPSTORE_PORT")).isEqualTo(served.address);
    }));

    // 2. The NetworkPolicy and the namespace label its peer needs.
    NetworkPolicy policy = client.network().v1().networkPolicies()
        .inNamespace(LocalCluster.OPERATOR_NAMESPACE).withName(resourceName).get();
    Map<String, String> operatorSelector =
        Map.of("app.kubernetes.io/name", "elasticmoe-operator", "app.kubernetes.io/instance", "elasticmoe");
    assertThat(operator.getMetadata().getLabels()).containsAllEntriesOf(operatorSelector);
    assertThat(service.getSpec().getSelector()).isEqualTo(operatorSelector);
    assertThat(policy.getSpec().getPodSelector().getMatchLabels()).isEqualTo(operatorSelector);
    assertThat(policy.getSpec().getPolicyTypes()).containsExactly("Ingress");
    assertThat(policy.getSpec().getIngress()).singleElement().satisfies(rule -> {
      assertThat(rule.getPorts()).singleElement()
          .satisfies(p -> assertThat(p.getPort().getIntVal()).isEqualTo(served.listenerPort));
      NetworkPolicyPeer peer = rule.getFrom().get(0);
      assertThat(rule.getFrom()).hasSize(1);
      assertThat(peer.getNamespaceSelector().getMatchLabels())
          .isEqualTo(Map.of("kubernetes.io/metadata.name", namespace));
      assertThat(peer.getPodSelector().getMatchLabels())
          .isEqualTo(Map.of("app.kubernetes.io/name", "elasticmoe-worker", "elasticmoe.io/deployment", NAME));
    });
    assertThat(client.namespaces().withName(namespace).get().getMetadata().getLabels())
        .containsEntry("kubernetes.io/metadata.name", namespace);

    // 3. A TCPStore client in a pod the policy admits; the counter comes from the workers' gRPC adds.
    long epoch = awaitCommittedEpoch();
    String counter = "NIXL_EP/barrier/connect/" + epoch;
    String host = served.address.substring(0, served.address.lastIndexOf(':'));
    String log = runProbe("probe", host, "29500", "set", "e2e/probe", "hello", "get", "e2e/probe", "get", counter + "/done",
        "get", counter);
    assertThat(log.lines().toList())
        .containsExactly("set e2e/probe", "get e2e/probe=hello", "get " + counter + "/done=", "get " + counter + "=2");

    // 4. An operator restart keeps the listener port; the same Service reaches the new operator.
    client.pods().inNamespace(LocalCluster.OPERATOR_NAMESPACE).withName(operator.getMetadata().getName()).delete();
    await().atMost(TIMEOUT).untilAsserted(() -> {
      // Between the old pod's deletion and its replacement's creation there may be none.
      Optional<Pod> live = liveOperatorPod();
      assertThat(live).as("a live operator pod").isPresent();
      Pod replacement = live.get();
      assertThat(replacement.getMetadata().getUid()).isNotEqualTo(operator.getMetadata().getUid());
      assertThat(replacement.getStatus().getConditions())
          .anySatisfy(c -> assertThat(c.getType() + "=" + c.getStatus()).isEqualTo("Ready=True"));
    });
    // Leave one operator pod behind for the tests that follow (a kubelet under load takes its time).
    await().atMost(TIMEOUT).until(() -> client.pods().inNamespace(LocalCluster.OPERATOR_NAMESPACE)
        .withName(operator.getMetadata().getName()).get() == null);
    assertThat(awaitServed()).isEqualTo(served);
    assertThat(runProbe("probe-after-restart", host, "29500", "set", "e2e/after-restart", "yes", "get",
        "e2e/after-restart").lines().toList())
        .containsExactly("set e2e/after-restart", "get e2e/after-restart=yes");

    // 5. Withdrawn when disabled, back when enabled, gone with the deployment.
    apply(false);
    awaitWithdrawn();
    apply(true);
    awaitServed();
    client.resources(ElasticMoEDeployment.class).inNamespace(namespace).withName(NAME).delete();
    awaitObjectsGone();
  }

  private void apply(boolean tcpStoreEnabled) throws Exception {
    String yaml = Files.readString(LocalCluster.repoRoot().resolve("examples/cpu-small.yaml"))
        .replace("name: moe-cpu", "name: " + NAME)
        .replace("replicas: 4", "replicas: 2")
        .replace("\nspec:\n", "\nspec:\n  rendezvous:\n    tcpStore:\n      enabled: " + tcpStoreEnabled + "\n");
    Path file = Files.createTempFile("tcpstore-e2e", ".yaml");
    try {
      Files.writeString(file, yaml);
      LocalCluster.kubectl("apply", "-n", namespace, "-f", file.toString());
    } finally {
      Files.delete(file);
    }
  }

  private TcpStoreStatus awaitServed() {
    return await().atMost(TIMEOUT).until(() -> {
      ElasticMoEDeployment emd = client.resources(ElasticMoEDeployment.class).inNamespace(namespace).withName(NAME).get();
      return emd == null || emd.getStatus() == null ? null : emd.getStatus().tcpStore;
    }, status -> status != null && status.address != null && objectsExist());
  }

  private void awaitWithdrawn() {
    await().atMost(TIMEOUT).untilAsserted(() -> {
      ElasticMoEDeployment emd = client.resources(ElasticMoEDeployment.class).inNamespace(namespace).withName(NAME).get();
      assertThat(emd.getStatus().tcpStore).as("status.tcpStore").isNull();
      assertThat(objectsExist()).as("Service or NetworkPolicy left").isFalse();
    });
  }

  private void awaitObjectsGone() {
    await().atMost(TIMEOUT).untilAsserted(() -> {
      assertThat(client.services().inNamespace(LocalCluster.OPERATOR_NAMESPACE).withName(resourceName).get()).isNull();
      assertThat(client.network().v1().networkPolicies()
          .inNamespace(LocalCluster.OPERATOR_NAMESPACE).withName(resourceName).get()).isNull();
    });
  }

  private boolean objectsExist() {
    return client.services().inNamespace(LocalCluster.OPERATOR_NAMESPACE).withName(resourceName).get() != null
        || client.network().v1().networkPolicies()
            .inNamespace(LocalCluster.OPERATOR_NAMESPACE).withName(resourceName).get() != null;
  }

  private long awaitCommittedEpoch() {
    return await().atMost(TIMEOUT).until(() -> {
      ElasticMoEDeployment emd = client.resources(ElasticMoEDeployment.class).inNamespace(namespace).withName(NAME).get();
      boolean committed = emd.getStatus() != null && emd.getStatus().epoch != null
          && Integer.valueOf(2).equals(emd.getStatus().worldSize);
      return committed ? emd.getStatus().epoch : null;
    }, epoch -> epoch != null);
  }

  /** Runs TcpStoreProbe once in a pod with the deployment's labels (no rank label: not a rank pod). */
  private String runProbe(String podName, String... args) {
    List<String> command = new ArrayList<>(List.of("/opt/java/bin/java", "-cp", "/app", "TcpStoreProbe"));
    command.addAll(List.of(args));
    client.pods().inNamespace(namespace).resource(new PodBuilder()
        .withNewMetadata().withName(podName).withLabels(Map.of(
            "app.kubernetes.io/name", "elasticmoe-worker", "elasticmoe.io/deployment", NAME)).endMetadata()
        .withNewSpec().withRestartPolicy("Never")
        .addNewContainer().withName(podName).withImage(TESTBOX).withImagePullPolicy("Never")
        .withCommand(command).endContainer()
        .endSpec().build()).create();
    Pod done = await().atMost(TIMEOUT).until(
        () -> client.pods().inNamespace(namespace).withName(podName).get(),
        pod -> List.of("Succeeded", "Failed").contains(pod.getStatus().getPhase()));
    String log = client.pods().inNamespace(namespace).withName(podName).getLog();
    assertThat(done.getStatus().getPhase()).as("probe pod; its log:\n%s", log).isEqualTo("Succeeded");
    return log;
  }

  private Pod operatorPod() {
    return liveOperatorPod().orElseThrow();
  }

  private Optional<Pod> liveOperatorPod() {
    return client.pods().inNamespace(LocalCluster.OPERATOR_NAMESPACE)
        .withLabel("app.kubernetes.io/name", "elasticmoe-operator").list().getItems().stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null).findFirst();
  }

  private List<Pod> rankPods() {
    return client.pods().inNamespace(namespace).withLabel("elasticmoe.io/deployment", NAME)
        .withLabel("elasticmoe.io/rank").list().getItems();
  }

  private static Map<String, String> envOf(Pod pod) {
    Map<String, String> env = new HashMap<>();
    for (EnvVar var : pod.getSpec().getContainers().get(0).getEnv()) {
      if (var.getValue() != null) {
        env.put(var.getName(), var.getValue());
      }
    }
    return env;
  }
}
