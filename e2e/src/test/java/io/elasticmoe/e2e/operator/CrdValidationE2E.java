package io.elasticmoe.e2e.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CRD's schema on the real API server: one bad spec per rule, each mapped to the message the server
 * returns to {@code kubectl apply}.
 *
 * <ol>
 *   <li>A valid spec is accepted and defaults are filled in by the server.
 *   <li>Each invalid spec is rejected; stderr names the field and the rule.
 * </ol>
 */
class CrdValidationE2E {
  private static KubernetesClient client;
  private static String namespace;

  @BeforeAll
  static void createNamespace() {
    client = LocalCluster.client();
    namespace = LocalCluster.createNamespace(client, "crd-validation");
  }

  @AfterAll
  static void deleteNamespace() {
    client.namespaces().withName(namespace).delete();
    client.close();
  }

  static String manifest(String name, String replicas, String model, String backend) {
    return """
        apiVersion: elasticmoe.io/v1alpha1
        kind: ElasticMoEDeployment
        metadata:
          name: %s
        spec:
          replicas: %s
          maxRanks: 8
          worker:
            image: elasticmoe/worker:dev
            backend: %s
        %s
        """
        .formatted(name, replicas, backend, model.indent(2));
  }

  static final String GOOD_MODEL =
      """
      model:
        numExperts: 32
        hidden: 512
        topK: 4
      """;

  static Stream<Arguments> invalidSpecs() {
    return Stream.of(
        Arguments.of("negative-replicas", manifest("negative-replicas", "-1", GOOD_MODEL, "cpu"),
            "spec.replicas in body should be greater than or equal to 0"),
        Arguments.of("topk-too-large", manifest("topk-too-large", "2", GOOD_MODEL.replace("topK: 4", "topK: 17"), "cpu"),
            "spec.model.topK in body should be less than or equal to 16"),
        Arguments.of("topk-zero", manifest("topk-zero", "2", GOOD_MODEL.replace("topK: 4", "topK: 0"), "cpu"),
            "spec.model.topK in body should be greater than or equal to 1"),
        Arguments.of("hidden-not-128", manifest("hidden-not-128", "2", GOOD_MODEL.replace("hidden: 512", "hidden: 700"), "cpu"),
            "spec.model.hidden in body should be a multiple of 128"),
        Arguments.of("tokens-too-many", manifest("tokens-too-many", "2",
                GOOD_MODEL + "  maxDispatchTokensPerRank: 2048\n", "cpu"),
            "spec.model.maxDispatchTokensPerRank in body should be less than or equal to 1024"),
        Arguments.of("bad-dtype", manifest("bad-dtype", "2", GOOD_MODEL + "  dispatchDtype: fp16\n", "cpu"),
            "spec.model.dispatchDtype: Unsupported value: \"fp16\""),
        Arguments.of("bad-backend", manifest("bad-backend", "2", GOOD_MODEL, "tpu"),
            "spec.worker.backend: Unsupported value: \"tpu\""),
        Arguments.of("missing-model", manifest("missing-model", "2", "", "cpu"),
            "spec.model: Required value"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalidSpecs")
  void apiServerRejectsInvalidSpecWithSchemaReason(String name, String yaml, String expectedMessage) throws Exception {
    Path file = Files.createTempFile(name, ".yaml");
    Files.writeString(file, yaml);

    // --validate=false: the API server's schema must reject it, not kubectl's client-side check.
    LocalCluster.Result result =
        LocalCluster.kubectlResult("apply", "--validate=false", "-n", namespace, "-f", file.toString());

    assertThat(result.exitCode()).as("kubectl apply of %s must fail", name).isNotZero();
    assertThat(result.stderr()).contains(expectedMessage);
    assertThat(LocalCluster.kubectlResult("get", "emd", name, "-n", namespace).exitCode())
        .as("a rejected spec is not stored").isNotZero();
  }

  @Test
  void apiServerAcceptsValidSpecAndFillsDefaults() throws Exception {
    Path file = Files.createTempFile("valid", ".yaml");
    Files.writeString(file, manifest("valid", "2", GOOD_MODEL, "cpu"));

    LocalCluster.kubectl("apply", "-n", namespace, "-f", file.toString());

    assertThat(LocalCluster.kubectl("get", "emd", "valid", "-n", namespace, "-o",
            "jsonpath={.spec.model.dispatchDtype} {.spec.model.maxDispatchTokensPerRank} {.spec.failurePolicy.policy} {.spec.rendezvous.heartbeatInterval}"))
        .isEqualTo("fp8 128 ReplaceRank 2s");
  }
}
