package io.elasticmoe.operator.tcpstore;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * PyTorch's own TCPStore client (Debian {@code python3-torch}, 1.13) against the endpoint, driven by
 * {@code src/test/python/tcpstore_client_suite.py}. Set {@code ELASTICMOE_PYTHON} to use another
 * interpreter (e.g. one with torch 2.x).
 */
class TcpStorePyTorchClientTest {
  private static final String NS = "team-a/llm";
  private static final Path SUITE = Path.of("src/test/python/tcpstore_client_suite.py");
  private static final String PYTHON =
      System.getenv().getOrDefault("ELASTICMOE_PYTHON", "/usr/bin/python3");

  private final ScheduledThreadPoolExecutor deadlines = new ScheduledThreadPoolExecutor(1);
  private final KeyValueCore core = new KeyValueCore(KeyValueLimits.DEFAULTS, deadlines);
  private final TcpStoreEndpoint endpoint =
      TcpStoreEndpoint.start(
          NS, NS, new InetSocketAddress("127.0.0.1", 0), core, TcpStoreLimits.DEFAULTS);
  private final List<Process> processes = new ArrayList<>();

  @BeforeAll
  static void requirePyTorch() throws Exception {
    String probe;
    try {
      Process p = new ProcessBuilder(PYTHON, "-c", "import torch.distributed").redirectErrorStream(true).start();
      probe = new String(p.getInputStream().readAllBytes(), UTF_8).strip();
      if (p.waitFor() == 0) {
        return;
      }
    } catch (IOException e) {
      probe = e.getMessage();
    }
    Assumptions.assumeTrue(
        false,
        "python3-torch is not installed: '" + PYTHON + " -c \"import torch.distributed\"' said: " + probe
            + " (apt-get install -y python3-torch)");
  }

  @AfterEach
  void stop() {
    processes.forEach(Process::destroyForcibly);
    endpoint.close();
    deadlines.shutdownNow();
  }

  /** A running client script whose stdout lines are collected as they come. */
  private final class Client {
    final Process process;
    final List<String> lines = new ArrayList<>();
    final CompletableFuture<Void> drained;

    Client(String... args) throws IOException {
      List<String> command = new ArrayList<>(List.of(PYTHON, SUITE.toString(), "127.0.0.1",
          Integer.toString(endpoint.port())));
      command.addAll(List.of(args));
      process = new ProcessBuilder(command).redirectErrorStream(true).start();
      processes.add(process);
      drained = CompletableFuture.runAsync(() -> {
        try (BufferedReader r =
            new BufferedReader(new InputStreamReader(process.getInputStream(), UTF_8))) {
          String line;
          while ((line = r.readLine()) != null) {
            synchronized (lines) {
              lines.add(line);
            }
          }
        } catch (IOException e) {
          synchronized (lines) {
            lines.add("(output ended: " + e.getMessage() + ")");
          }
        }
      });
    }

    List<String> output() {
      synchronized (lines) {
        return List.copyOf(lines);
      }
    }

    /** Waits for the exit; returns the whole output, asserting a zero exit status. */
    List<String> succeeds(Duration within) throws Exception {
      assertThat(process.waitFor(within.toMillis(), TimeUnit.MILLISECONDS))
          .as("client exited within %s; output so far: %s", within, output())
          .isTrue();
      drained.get(10, TimeUnit.SECONDS);
      assertThat(process.exitValue()).as("exit status; output: %s", output()).isZero();
      return output();
    }
  }

  @Test
  void pytorchClientSuitePassesAndItsWritesLandInTheDeploymentNamespace() throws Exception {
    List<String> output = new Client("suite").succeeds(Duration.ofSeconds(120));
    assertThat(output).anyMatch(line -> line.startsWith("PASS torch"));
    assertThat(output).contains("OK set+get", "OK add existing", "OK compare_set match",
        "OK delete_key present", "OK num_keys", "OK get blocked until another client's set");
    assertThat(core.getExisting(NS, "/suite/a")).isEqualTo("2".getBytes(UTF_8));
    assertThat(core.getExisting(NS, "/suite/ctr")).isEqualTo("3".getBytes(UTF_8));
    await().untilAsserted(() -> assertThat(endpoint.openConnections()).isZero());
  }

  @Test
  void blockingWaitIsWokenByASetThroughTheCoreAsTheGrpcStoreDoes() throws Exception {
    Client waiter = new Client("wait-for", "grpc/ready", "60");
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
      assertThat(waiter.output()).contains("WAITING");
      assertThat(core.stats(NS).waiters()).isEqualTo(1);
    });
    core.set(NS, "/grpc/ready", "from-grpc".getBytes(UTF_8));
    assertThat(waiter.succeeds(Duration.ofSeconds(60))).contains("WOKEN from-grpc");
    assertThat(core.stats(NS).waiters()).isZero();
  }

  @Test
  void thirtyTwoConcurrentClientsKeepTheCounterExact() throws Exception {
    List<String> output = new Client("concurrent", "32", "50").succeeds(Duration.ofSeconds(180));
    assertThat(output).contains("TOTAL 1600");
    assertThat(core.getExisting(NS, "/counter")).isEqualTo("1600".getBytes(UTF_8));
  }

  @Test
  void clientKilledMidWaitLeavesNoWaiterOrConnection() throws Exception {
    Client waiter = new Client("wait-for", "never", "600");
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
      assertThat(core.stats(NS).waiters()).isEqualTo(1);
      // The 1.13 client may also open its watch-callback connection: one or two.
      assertThat(endpoint.openConnections()).isPositive();
    });
    waiter.process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    await().untilAsserted(() -> {
      assertThat(core.stats(NS).waiters()).as("waiters").isZero();
      assertThat(core.stats(NS).watchedKeys()).as("watched keys").isZero();
      assertThat(endpoint.openConnections()).as("open connections").isZero();
    });
  }
}
