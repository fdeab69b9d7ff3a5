package io.elasticmoe.e2e.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The local cluster as the e2e tests see it: a client, kubectl, and one namespace per test class. */
final class LocalCluster {
  static final String OPERATOR_NAMESPACE = "elasticmoe-system";

  private LocalCluster() {}

  static KubernetesClient client() {
    assertThat(System.getenv("KUBECONFIG"))
        .as("KUBECONFIG must point at the local cluster (bin/elasticmoe test sets it)")
        .isNotBlank();
    return new KubernetesClientBuilder().build();
  }

  static String createNamespace(KubernetesClient client, String prefix) {
    String name = prefix + "-" + Long.toString(System.nanoTime() % 1_000_000, 36);
    client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build()).create();
    return name;
  }

  static Path repoRoot() {
    return Path.of(System.getProperty("elasticmoe.repo.root", "..")).toAbsolutePath().normalize();
  }

  /** Runs kubectl as a user would; returns stdout, failing the test on a non-zero exit. */
  static String kubectl(String... args) throws IOException, InterruptedException {
    Result result = kubectlResult(args);
    assertThat(result.exitCode()).as("kubectl %s failed: %s", String.join(" ", args), result.stderr()).isZero();
    return result.stdout();
  }

  static Result kubectlResult(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add("kubectl");
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).start();
    byte[] out = process.getInputStream().readAllBytes();
    byte[] err = process.getErrorStream().readAllBytes();
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("kubectl %s timed out", command).isTrue();
    return new Result(
        process.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
  }

  record Result(int exitCode, String stdout, String stderr) {}
}
