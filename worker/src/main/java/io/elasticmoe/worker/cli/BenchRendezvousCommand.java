package io.elasticmoe.worker.cli;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.elasticmoe.worker.bench.rendezvous.JavaStoreBench;
import io.elasticmoe.worker.bench.rendezvous.MembershipCommitBench;
import io.elasticmoe.worker.bench.rendezvous.TcpStoreWireClient;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import me.tongfei.progressbar.ProgressBar;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code elasticmoe bench rendezvous}: the rendezvous store side by side with PyTorch's TCPStore, with
 * clients of one language on both sides of each comparison (Python: unary calls and sessions through
 * python3-grpcio against torch's own client; Java: our worker's store client over sessions against a
 * Java client of TCPStore's wire protocol), and membership commit latency with 64 watchers.
 *
 * <p>It starts the rendezvous services standalone (the operator's {@code StandaloneRendezvousServer},
 * from the operator's built Quarkus app) with a fresh random token, so every call is authenticated.
 */
@Command(
    name = "rendezvous",
    mixinStandardHelpOptions = true,
    description = {
      "Store set+get throughput and p50/p99 against PyTorch TCPStore at several client counts, and",
      "membership latency (last planned Join -> new epoch received by all watchers).",
      "Needs python3 with grpcio, grpc_tools and torch (Debian: python3-grpcio python3-grpc-tools",
      "python3-torch) and a built operator (operator/target/quarkus-app)."
    })
public final class BenchRendezvousCommand implements Callable<Integer> {
  private static final String DEPLOYMENT = "bench/rendezvous";

  @Option(names = "--clients", split = ",", defaultValue = "1,8,32",
      description = "Store client processes per run (default: ${DEFAULT-VALUE}).")
  List<Integer> clients;

  @Option(names = "--pairs", defaultValue = "2000", description = "set+get pairs per client (default: ${DEFAULT-VALUE}).")
  int pairs;

  @Option(names = "--value-bytes", defaultValue = "64", description = "Value size (default: ${DEFAULT-VALUE}).")
  int valueBytes;

  @Option(names = "--watchers", defaultValue = "64", description = "Ranks watching membership (default: ${DEFAULT-VALUE}).")
  int watchers;

  @Option(names = "--rounds", defaultValue = "50", description = "Membership rounds (default: ${DEFAULT-VALUE}).")
  int rounds;

  @Option(names = "--warmup-rounds", defaultValue = "20",
      description = "Untimed membership rounds first (default: ${DEFAULT-VALUE}).")
  int warmupRounds;

  @Option(names = "--python", defaultValue = "/usr/bin/python3", description = "Python interpreter (default: ${DEFAULT-VALUE}).")
  String python;

  @Option(names = "--python-stubs",
      description = "Directory with rendezvous_pb2*.py already generated (default: generate them with grpc_tools).")
  Path pythonStubs;

  @Option(names = "--repo", description = "Repository root (default: derived from the worker jar's location).")
  Path repo;

  @Option(names = "--skip-store", description = "Run only the membership benchmark.")
  boolean skipStore;

  @Option(names = "--skip-membership", description = "Run only the store benchmark.")
  boolean skipMembership;

  @Option(names = "--skip-python-store", description = "Skip the store benchmark's Python clients.")
  boolean skipPythonStore;

  @Option(names = "--skip-java-store", description = "Skip the store benchmark's Java clients.")
  boolean skipJavaStore;

  // 5000 pairs left the gRPC client still compiling (and deoptimizing) in the timed pairs: its 1-client p99
  // fell from 1.1-7.8 ms to 0.45-0.84 ms with 20000 on the development VM (docs/benchmarks/rendezvous.md).
  @Option(names = "--java-warmup", defaultValue = "20000",
      description = "Untimed pairs per Java client first, so both client JVMs run JIT-compiled code (default: ${DEFAULT-VALUE}).")
  int javaWarmup;

  @Option(names = "--server-jvm-options", split = " ", defaultValue = "-XX:+UseSerialGC -Xmx576m",
      description = {"JVM options of the standalone server (default: ${DEFAULT-VALUE}: what the operator pod's JVM",
          "runs with under the Helm chart's 768 MiB memory limit and -XX:MaxRAMPercentage=75; below ~1.8 GB the",
          "JVM does not count as a server-class machine and picks the Serial collector)."})
  List<String> serverJvmOptions;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    checkArguments();
    Path root = repo != null ? repo : repoFromJar();
    Path app = root.resolve("operator/target/quarkus-app");
    if (!Files.isDirectory(app.resolve("lib/main"))) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "the operator is not built: " + app + "/lib/main does not exist; run "
              + "./mvnw -pl operator -am install -DskipTests (or pass --repo)");
    }
    String token = HexFormat.of().formatHex(SecureRandom.getInstanceStrong().generateSeed(24));
    Process server = startServer(app, token);
    try {
      String target = awaitListening(server);
      System.out.println("rendezvous: standalone server at " + target + " (authenticated, token of 48 hex digits)");
      if (!skipStore && !skipPythonStore) {
        pythonStoreBench(root, target, token);
      }
      if (!skipStore && !skipJavaStore) {
        javaStoreBench(root, target, token);
      }
      if (!skipMembership) {
        membershipBench(target, token);
      }
      return 0;
    } finally {
      server.getOutputStream().close();
      if (!server.waitFor(10, TimeUnit.SECONDS)) {
        server.destroyForcibly();
      }
    }
  }

  private void checkArguments() {
    for (int c : clients) {
      if (c < 1 || c > 256) {
        throw new CommandLine.ParameterException(spec.commandLine(), "--clients has " + c + "; each count must be in [1, 256]");
      }
    }
    if (pairs < 1 || valueBytes < 0 || valueBytes > (1 << 20)) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--pairs is " + pairs + " and --value-bytes " + valueBytes + "; need pairs >= 1 and 0 <= value-bytes <= 1048576 (maxValueBytes)");
    }
    if (javaWarmup < 0) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--java-warmup is " + javaWarmup + "; need >= 0");
    }
    if (watchers < 2 || rounds < 1 || warmupRounds < 0) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--watchers is " + watchers + ", --rounds " + rounds + " and --warmup-rounds " + warmupRounds
              + "; need watchers >= 2, rounds >= 1 and warmup-rounds >= 0");
    }
  }

  private Process startServer(Path app, String token) throws IOException {
    String java = ProcessHandle.current().info().command().orElse("java");
    String cp = String.join(File.pathSeparator, app.resolve("app") + File.separator + "*",
        app.resolve("lib/main") + File.separator + "*", app.resolve("lib/boot") + File.separator + "*");
    List<String> command = new ArrayList<>(List.of(java));
    command.addAll(serverJvmOptions.stream().filter(o -> !o.isBlank()).toList());
    command.addAll(List.of("-cp", cp, "io.elasticmoe.operator.rendezvous.StandaloneRendezvousServer", DEPLOYMENT,
        token, Integer.toString(watchers),
        // Long heartbeats: the bench's watchers do not beat, and must not be suspected mid-run.
        "600000"));
    System.out.println("rendezvous: server JVM options " + String.join(" ", serverJvmOptions));
    ProcessBuilder pb = new ProcessBuilder(command);
    Path log = Files.createTempFile("elasticmoe-rendezvous-server", ".log");
    System.out.println("rendezvous: server log " + log);
    pb.redirectError(log.toFile());
    return pb.start();
  }

  private static String awaitListening(Process server) throws IOException {
    BufferedReader out = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
    String line = out.readLine();
    if (line == null || !line.startsWith("listening ")) {
      throw new IllegalStateException("the standalone rendezvous server did not start: it printed " + line);
    }
    return line.substring("listening ".length()).trim();
  }

  private void pythonStoreBench(Path root, String target, String token) throws Exception {
    Path stubs = pythonStubs;
    if (stubs == null) {
      stubs = Files.createTempDirectory("elasticmoe-rdzv-stubs");
      Path proto = root.resolve("api/src/main/proto");
      run(List.of(python, "-m", "grpc_tools.protoc", "-I", proto.toString(), "--python_out=" + stubs,
          "--grpc_python_out=" + stubs, proto.resolve("rendezvous.proto").toString()), null);
    }
    List<String> results = new ArrayList<>();
    run(List.of(python, pythonScript(root).toString(), "--target", target, "--token", token, "--deployment", DEPLOYMENT,
        "--stubs", stubs.toString(), "--clients", String.join(",", clients.stream().map(String::valueOf).toList()),
        "--pairs", Integer.toString(pairs), "--value-bytes", Integer.toString(valueBytes)), results);
    ObjectMapper json = new ObjectMapper();
    Map<Integer, Map<String, JavaStoreBench.Result>> byClients = new TreeMap<>();
    for (String line : results) {
      JsonNode n = json.readTree(line);
      byClients.computeIfAbsent(n.get("clients").asInt(), k -> new TreeMap<>()).put(n.get("side").asText(),
          new JavaStoreBench.Result(n.get("side").asText(), n.get("clients").asInt(), n.get("pairs").asInt(),
              n.get("ops_per_s").asDouble(), n.get("pair_p50_us").asDouble(), n.get("pair_p99_us").asDouble()));
    }
    printStoreTable("Store set+get, Python clients (grpc = unary calls, session-aio = Store.Session through grpc.aio, floor = a trivial "
        + "Python gRPC server: dict, no auth)", byClients, "tcpstore");
  }

  private void javaStoreBench(Path root, String target, String token) throws Exception {
    // PyTorch's TCPStore server, started by Python in this run as the Python side's master is.
    Process tcpStore = new ProcessBuilder(python, pythonScript(root).toString(), "--serve-tcpstore")
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try {
      String line = new BufferedReader(new InputStreamReader(tcpStore.getInputStream(), StandardCharsets.UTF_8)).readLine();
      if (line == null || !line.startsWith("tcpstore ")) {
        throw new IllegalStateException("the TCPStore server did not start: it printed " + line);
      }
      String[] fields = line.split(" ");
      TcpStoreDialect dialect = TcpStoreDialect.ofTorchVersion(fields[2]);
      System.out.println("rendezvous: TCPStore server of torch " + fields[2] + " at " + fields[1] + " (" + dialect + ")");
      String java = ProcessHandle.current().info().command().orElse("java");
      JavaStoreBench bench = new JavaStoreBench(java, System.getProperty("java.class.path"), pairs, javaWarmup, valueBytes);
      Map<Integer, Map<String, JavaStoreBench.Result>> byClients = new TreeMap<>();
      for (int c : clients) {
        System.err.printf("store: java-session with %d clients x %d pairs ...%n", c, pairs);
        JavaStoreBench.Result session = bench.session(c, target, token, DEPLOYMENT);
        System.err.printf("store: java-tcpstore with %d clients x %d pairs ...%n", c, pairs);
        JavaStoreBench.Result wire = bench.tcpStore(c, fields[1], dialect);
        byClients.put(c, new TreeMap<>(Map.of(session.side(), session, wire.side(), wire)));
      }
      printStoreTable("Store set+get, Java clients (java-session = the worker's RendezvousKeyValueStore over "
          + "Store.Session; java-tcpstore = TcpStoreWireClient against torch's TCPStore server)", byClients, "java-tcpstore");
    } finally {
      tcpStore.getOutputStream().close();
      if (!tcpStore.waitFor(10, TimeUnit.SECONDS)) {
        tcpStore.destroyForcibly();
      }
    }
  }

  private void printStoreTable(String title, Map<Integer, Map<String, JavaStoreBench.Result>> byClients, String baseline) {
    System.out.println();
    System.out.println(title + ", " + valueBytes + "-byte values, " + pairs + " timed pairs per client;");
    System.out.println("an op is one set or one get; latency is per set+get pair; ratios are against " + baseline);
    System.out.println("| clients | side | ops/s | ratio | pair p50 / p99 µs | p99 ratio |");
    System.out.println("|---|---|---|---|---|---|");
    for (var perClients : byClients.entrySet()) {
      JavaStoreBench.Result base = perClients.getValue().get(baseline);
      for (JavaStoreBench.Result r : perClients.getValue().values()) {
        System.out.printf("| %d | %s | %.0f | %s | %.0f / %.0f | %s |%n", perClients.getKey(), r.side(), r.opsPerSecond(),
            base == null ? "-" : String.format("%.2f×", r.opsPerSecond() / base.opsPerSecond()),
            r.pairP50Micros(), r.pairP99Micros(),
            base == null ? "-" : String.format("%.2f×", r.pairP99Micros() / base.pairP99Micros()));
      }
    }
  }

  private static Path pythonScript(Path root) {
    return root.resolve("worker/src/main/python/bench_rendezvous_store.py");
  }

  private void membershipBench(String target, String token) throws InterruptedException {
    long[] latencies;
    try (ProgressBar bar = new ProgressBar("membership rounds", rounds)) {
      latencies = new MembershipCommitBench(target, token, DEPLOYMENT, watchers).run(warmupRounds, rounds, bar::stepTo);
    }
    System.out.println();
    System.out.printf("Membership: last planned Join -> new epoch received by all %d watchers, %d rounds%n", watchers, rounds);
    System.out.printf("| p50 ms | p99 ms | max ms | target p99 |%n|---|---|---|---|%n| %.2f | %.2f | %.2f | < 50 ms (%s) |%n",
        ms(latencies, 0.50), ms(latencies, 0.99), latencies[latencies.length - 1] / 1e6,
        ms(latencies, 0.99) < 50 ? "met" : "MISSED");
  }

  private static double ms(long[] sorted, double q) {
    int i = (int) Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)));
    return sorted[i] / 1e6;
  }

  /** Runs a helper, passing its stderr through; stdout lines go to {@code stdoutLines} or through. */
  private static void run(List<String> command, List<String> stdoutLines) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      throw new IllegalStateException("cannot run " + command.get(0) + ": " + e.getMessage()
          + " (Debian: apt-get install python3-grpcio python3-grpc-tools python3-torch)", e);
    }
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = out.readLine()) != null; ) {
        if (stdoutLines != null) {
          stdoutLines.add(line);
        } else {
          System.out.println(line);
        }
      }
    }
    int rc = p.waitFor();
    if (rc != 0) {
      throw new IllegalStateException(String.join(" ", command.subList(0, Math.min(3, command.size())))
          + " ... exited with " + rc);
    }
  }

  private static Path repoFromJar() throws Exception {
    Path jar = Path.of(BenchRendezvousCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    // worker/target/elasticmoe-worker.jar (or worker/target/classes) -> repository root
    return jar.getParent().getParent().getParent();
  }
}
