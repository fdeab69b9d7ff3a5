package io.elasticmoe.e2e.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The operator, installed by Helm and running as a pod, reconciles ElasticMoEDeployments.
 *
 * <ol>
 *   <li>The operator pod runs in elasticmoe-system.
 *   <li>A valid deployment gets a status for its generation: observedGeneration, selector, conditions.
 *   <li>{@code kubectl scale --replicas=6} changes spec.replicas and the operator observes the new generation.
 *   <li>{@code kubectl get emd} prints the documented columns.
 *   <li>A spec the schema accepts but the operator cannot run (maxRanks 12) is reported as InvalidSpec, with a
 *       Warning event.
 * </ol>
 */
class OperatorE2E {
  private static final Duration RECONCILE_TIMEOUT = Duration.ofSeconds(90);
  private static KubernetesClient client;
  private static String namespace;

  @BeforeAll
  static void createNamespace() {
    client = LocalCluster.client();
    namespace = LocalCluster.createNamespace(client, "operator");
  }

  @AfterAll
  static void deleteNamespace() {
    client.namespaces().withName(namespace).delete();
    client.close();
  }

  @Test
  void operatorRunsAsAPodInTheCluster() {
    // A pod on its way out (an earlier test replaced the operator) is not the one that runs it.
    List<Pod> pods = client.pods().inNamespace(LocalCluster.OPERATOR_NAMESPACE)
        .withLabel("app.kubernetes.io/name", "elasticmoe-operator").list().getItems().stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null).toList();
    assertThat(pods).singleElement().satisfies(pod -> {
      assertThat(pod.getStatus().getPhase()).isEqualTo("Running");
      assertThat(pod.getSpec().getNodeName()).isNotBlank();
    });
  }

  @Test
  void statusFollowsScaleThroughKubectl() throws Exception {
    LocalCluster.kubectl("apply", "-n", namespace, "-f", LocalCluster.repoRoot().resolve("examples/cpu-small.yaml").toString());
    awaitObservedGeneration("moe-cpu");
    ElasticMoEDeployment created = get("moe-cpu");
    assertThat(created.getStatus().selector)
        .isEqualTo("app.kubernetes.io/name=elasticmoe-worker,elasticmoe.io/deployment=moe-cpu");
    assertThat(condition(created, "Failed").getStatus()).isEqualTo("False");

    LocalCluster.kubectl("scale", "-n", namespace, "emd/moe-cpu", "--replicas=6");

    assertThat(get("moe-cpu").getSpec().replicas).isEqualTo(6);
    ElasticMoEDeployment scaled = awaitObservedGeneration("moe-cpu");
    assertThat(scaled.getMetadata().getGeneration()).isGreaterThan(created.getMetadata().getGeneration());

    String table = LocalCluster.kubectl("get", "emd", "moe-cpu", "-n", namespace);
    assertThat(table.lines().findFirst().orElseThrow().split("\\s+"))
        .containsExactly("NAME", "DESIRED", "READY", "WORLD", "EPOCH", "AVAILABLE", "AGE");
    assertThat(table.lines().skip(1).findFirst().orElseThrow().split("\\s+")[1]).isEqualTo("6");
  }

  @Test
  void specTheSchemaAcceptsButTheOperatorCannotRunIsReportedAsInvalidSpec() throws Exception {
    String yaml = Files.readString(LocalCluster.repoRoot().resolve("examples/cpu-small.yaml"))
        .replace("name: moe-cpu", "name: twelve-ranks")
        .replace("maxRanks: 8", "maxRanks: 12");
    Path file = Files.createTempFile("twelve-ranks", ".yaml");
    Files.writeString(file, yaml);

    LocalCluster.kubectl("apply", "-n", namespace, "-f", file.toString());

    ElasticMoEDeployment emd = awaitObservedGeneration("twelve-ranks");
    Condition available = condition(emd, "Available");
    assertThat(available.getStatus()).isEqualTo("False");
    assertThat(available.getReason()).isEqualTo("InvalidSpec");
    assertThat(available.getMessage()).contains("spec.maxRanks is 12");
    await().atMost(RECONCILE_TIMEOUT).untilAsserted(() -> {
      List<Event> events = client.v1().events().inNamespace(namespace).list().getItems();
      assertThat(events).anySatisfy(event -> {
        assertThat(event.getInvolvedObject().getName()).isEqualTo("twelve-ranks");
        assertThat(event.getType()).isEqualTo("Warning");
        assertThat(event.getReason()).isEqualTo("InvalidSpec");
      });
    });
  }

  private ElasticMoEDeployment get(String name) {
    return client.resources(ElasticMoEDeployment.class).inNamespace(namespace).withName(name).get();
  }

  private ElasticMoEDeployment awaitObservedGeneration(String name) {
    await().atMost(RECONCILE_TIMEOUT).untilAsserted(() -> {
      ElasticMoEDeployment emd = get(name);
      assertThat(emd.getStatus()).as("status of %s", name).isNotNull();
      assertThat(emd.getStatus().observedGeneration).isEqualTo(emd.getMetadata().getGeneration());
    });
    return get(name);
  }

  private static Condition condition(ElasticMoEDeployment emd, String type) {
    return emd.getStatus().conditions.stream().filter(c -> type.equals(c.getType())).findFirst()
        .orElseThrow(() -> new AssertionError("no " + type + " condition in " + emd.getStatus().conditions));
  }
}
