package io.elasticmoe.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * The local cluster that {@code e2e/cluster/cluster.sh up} started, as the cluster E2E tests see
 * it: a Fabric8 client from {@code KUBECONFIG}, the cluster script for node failures, and each
 * node's containerd (through {@code ctr}) to check what really runs there.
 */
final class LocalCluster {
  static final String TESTBOX = "docker.io/elasticmoe/testbox:dev";
  static final String WORKER = "docker.io/elasticmoe/worker:dev";
  static final String GPU = "nvidia.com/gpu";

  private LocalCluster() {}

  static KubernetesClient client() {
    String kubeconfig = System.getenv("KUBECONFIG");
    assertThat(kubeconfig)
        .as("KUBECONFIG must point at the local cluster (eval \"$(e2e/cluster/cluster.sh env)\")")
        .isNotBlank();
    return new KubernetesClientBuilder().build();
  }

  /** A fresh namespace named after the test class, e.g. {@code e2e-podlifecycle-1a2b}. */
  static Namespace createNamespace(KubernetesClient client, Class<?> testClass) {
    String name =
        "e2e-"
            + testClass.getSimpleName().toLowerCase(Locale.ROOT).replace("e2e", "")
            + "-"
            + Long.toHexString(System.nanoTime() & 0xffff);
    return client
        .namespaces()
        .resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build())
        .create();
  }

  static void deleteNamespace(KubernetesClient client, Namespace namespace) {
    if (namespace != null) {
      client.namespaces().withName(namespace.getMetadata().getName()).delete();
    }
  }

  static List<Node> nodes(KubernetesClient client) {
    return client.nodes().list().getItems();
  }

  static boolean ready(Node node) {
    return node.getStatus().getConditions().stream()
        .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
  }

  static boolean hasImage(Node node, String image) {
    return node.getStatus().getImages().stream().anyMatch(i -> i.getNames() != null && i.getNames().contains(image));
  }

  static Path repoRoot() {
    String property = System.getProperty("elasticmoe.repo.root");
    if (property != null && Files.isRegularFile(Path.of(property, "e2e/cluster/cluster.sh"))) {
      return Path.of(property).toAbsolutePath().normalize();
    }
    Path dir = Path.of("").toAbsolutePath();
    for (Path p = dir; p != null; p = p.getParent()) {
      if (Files.isRegularFile(p.resolve("e2e/cluster/cluster.sh"))) {
        return p;
      }
    }
    throw new IllegalStateException("no e2e/cluster/cluster.sh above " + dir);
  }

  static Path stateDir() {
    String env = System.getenv("ELASTICMOE_STATE");
    if (env != null && !env.isBlank()) {
      return Path.of(env);
    }
    return Path.of(System.getProperty("user.home"), ".local/state/elasticmoe");
  }

  /** The containerd socket of a node named {@code node-N}. */
  static Path containerdSocket(String nodeName) {
    return stateDir().resolve("nodes").resolve(nodeName).resolve("containerd.sock");
  }

  /** Container ids (all, running or not) in the node's containerd, namespace k8s.io. */
  static List<String> containerdContainers(String nodeName) {
    Result r = run("ctr", "--address", containerdSocket(nodeName).toString(), "-n", "k8s.io", "containers", "ls", "-q");
    assertThat(r.exitCode).as("ctr containers ls on %s: %s", nodeName, r.output).isZero();
    return r.output.lines().filter(l -> !l.isBlank()).toList();
  }

  /** {@code e2e/cluster/cluster.sh ARGS...}, asserted to succeed. */
  static String clusterScript(String... args) {
    List<String> command = new ArrayList<>();
    command.add(repoRoot().resolve("e2e/cluster/cluster.sh").toString());
    command.addAll(List.of(args));
    Result r = run(command.toArray(String[]::new));
    assertThat(r.exitCode).as("cluster.sh %s: %s", String.join(" ", args), r.output).isZero();
    return r.output;
  }

  record Result(int exitCode, String output) {}

  static Result run(String... command) {
    try {
      Path out = Files.createTempFile("e2e-cmd", ".log");
      Process p =
          new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
      if (!p.waitFor(Duration.ofMinutes(5).toSeconds(), TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IllegalStateException("timed out: " + String.join(" ", command));
      }
      String output = Files.readString(out, StandardCharsets.UTF_8);
      Files.deleteIfExists(out);
      return new Result(p.exitValue(), output);
    } catch (IOException e) {
      throw new IllegalStateException("cannot run " + String.join(" ", command), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
