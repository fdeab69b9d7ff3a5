package io.elasticmoe.e2e.cluster;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Pods reach the API server the way the operator pod does: through the {@code kubernetes} Service
 * (10.0.0.1:443, kube-proxy to the API server's bridge address), trusting the mounted CA and
 * authenticating with their ServiceAccount token; RBAC decides.
 *
 * <ol>
 *   <li>ServiceAccount {@code reader}, bound to ClusterRole {@code view} in the test namespace, lists
 *       the namespace's pods: HTTP 200 and its own pod in the list.
 *   <li>ServiceAccount {@code nobody} (no binding) gets HTTP 403.
 * </ol>
 */
class ServiceAccountApiAccessE2E {
  private static KubernetesClient client;
  private static Namespace namespace;
  private static String ns;

  @BeforeAll
  static void setUp() {
    client = LocalCluster.client();
    namespace = LocalCluster.createNamespace(client, ServiceAccountApiAccessE2E.class);
    ns = namespace.getMetadata().getName();
    for (String sa : new String[] {"reader", "nobody"}) {
      client
          .serviceAccounts()
          .inNamespace(ns)
          .resource(new ServiceAccountBuilder().withNewMetadata().withName(sa).endMetadata().build())
          .create();
    }
    client
        .rbac()
        .roleBindings()
        .inNamespace(ns)
        .resource(
            new RoleBindingBuilder()
                .withNewMetadata()
                .withName("reader-view")
                .endMetadata()
                .withNewRoleRef("rbac.authorization.k8s.io", "ClusterRole", "view")
                .addNewSubject()
                .withKind("ServiceAccount")
                .withName("reader")
                .withNamespace(ns)
                .endSubject()
                .build())
        .create();
  }

  @AfterAll
  static void tearDown() {
    LocalCluster.deleteNamespace(client, namespace);
    client.close();
  }

  @Test
  void boundServiceAccountListsPodsThroughTheKubernetesService() {
    String logs = runFetch("fetch-reader", "reader", "Succeeded");

    assertThat(logs).startsWith("status=200\n").contains("\"kind\":\"PodList\"").contains("\"name\":\"fetch-reader\"");
  }

  @Test
  void unboundServiceAccountIsForbidden() {
    String logs = runFetch("fetch-nobody", "nobody", "Failed");

    assertThat(logs)
        .startsWith("status=403\n")
        .contains("system:serviceaccount:" + ns + ":nobody")
        .contains("cannot list resource \\\"pods\\\"");
  }

  private String runFetch(String name, String serviceAccount, String expectedPhase) {
    // The token secret is created asynchronously by the controller-manager's token controller.
    await(serviceAccount + " token")
        .atMost(60, SECONDS)
        .until(() -> !client.serviceAccounts().inNamespace(ns).withName(serviceAccount).get().getSecrets().isEmpty());
    Pod pod =
        Pods.echo(name)
            .editSpec()
            .withRestartPolicy("Never")
            .withServiceAccountName(serviceAccount)
            .editFirstContainer()
            .withReadinessProbe(null)
            .withArgs(
                "fetch",
                "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)/api/v1/namespaces/" + ns + "/pods")
            .endContainer()
            .endSpec()
            .build();
    client.pods().inNamespace(ns).resource(pod).create();
    await(name + " finished")
        .atMost(120, SECONDS)
        .until(() -> client.pods().inNamespace(ns).withName(name).get().getStatus().getPhase(),
            p -> p.equals("Succeeded") || p.equals("Failed"));
    String logs = client.pods().inNamespace(ns).withName(name).getLog();
    assertThat(client.pods().inNamespace(ns).withName(name).get().getStatus().getPhase())
        .as("logs: %s", logs)
        .isEqualTo(expectedPhase);
    return logs;
  }
}
