package io.elasticmoe.worker.cli;

import io.elasticmoe.worker.cuda.CudaDataplaneBench;
import io.elasticmoe.worker.cuda.GpuProbe;
import io.elasticmoe.worker.runtime.WorkerJvm;
import io.elasticmoe.worker.store.DirectoryKeyValueStore;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code elasticmoe bench dataplane-cuda}: starts one JVM per rank (CUDA IPC maps only another process's
 * memory), each on GPU {@code rank}, runs {@link CudaDataplaneBench}, then the NCCL all_to_all_single baseline
 * through PyTorch for the same payloads, and prints both side by side with their ratios.
 */
@Command(
    name = "dataplane-cuda",
    mixinStandardHelpOptions = true,
    description = "LL dispatch/combine on the CUDA backend (one process per GPU) beside NCCL all_to_all_single "
        + "(PyTorch) and the peer-write ceiling, for the same payloads.")
public final class BenchDataplaneCudaCommand implements Callable<Integer> {

  private static final Pattern RESULT = Pattern.compile(
      "RESULT rank=(\\d+) tokens=(\\d+) chunks=(\\d+) dispatch_us=([\\d.]+) combine_us=([\\d.]+) remote_bytes=(\\d+) peer_write_us=([\\d.]+)");
  private static final Pattern NCCL = Pattern.compile(
      "\\{\"tokens\": (\\d+), \"dispatch_bytes\": (\\d+), \"dispatch_us\": ([\\d.]+), \"combine_bytes\": (\\d+), \"combine_us\": ([\\d.]+)\\}");

  @Option(names = "--tokens", split = ",", defaultValue = "128,512,4096", description = "Tokens per rank (default: ${DEFAULT-VALUE}).")
  int[] tokens;

  @Option(names = "--hidden", defaultValue = "7168", description = "Hidden size (default: ${DEFAULT-VALUE}).")
  int hidden;

  @Option(names = "--topk", defaultValue = "8", description = "Experts per token (default: ${DEFAULT-VALUE}).")
  int topk;

  @Option(names = "--experts", defaultValue = "256", description = "Experts over all ranks (default: ${DEFAULT-VALUE}).")
  int experts;

  @Option(names = "--ranks", defaultValue = "2", description = "Ranks, one GPU each (default: ${DEFAULT-VALUE}).")
  int ranks;

  @Option(names = "--iterations", defaultValue = "50", description = "Timed iterations (default: ${DEFAULT-VALUE}).")
  int iterations;

  @Option(names = "--warmup", defaultValue = "10", description = "Warm-up iterations (default: ${DEFAULT-VALUE}).")
  int warmup;

  @Option(names = "--timeout-ms", defaultValue = "10000", description = "Data-plane timeout (default: ${DEFAULT-VALUE}).")
  long timeoutMillis;

  @Option(names = "--nccl-script", defaultValue = "worker/src/main/python/nccl_all_to_all.py",
      description = "PyTorch NCCL baseline script; 'none' skips the baseline (default: ${DEFAULT-VALUE}).")
  String ncclScript;

  @Option(names = "--python", defaultValue = "python3", description = "Python with torch (default: ${DEFAULT-VALUE}).")
  String python;

  @Option(names = "--rank", hidden = true, defaultValue = "-1")
  int rank;

  @Option(names = "--store", hidden = true)
  Path store;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (rank >= 0) {
      return runRank();
    }
    if (!GpuProbe.available()) {
      System.err.println("bench dataplane-cuda needs GPUs: " + GpuProbe.reason());
      return 2;
    }
    if (GpuProbe.deviceCount() < ranks) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--ranks is " + ranks + " but only " + GpuProbe.deviceCount() + " GPU(s) are visible; one rank needs one GPU");
    }
    Path storeDir = Files.createTempDirectory("elasticmoe-bench-store");
    List<Process> processes = new ArrayList<>();
    for (int r = 0; r < ranks; r++) {
      processes.add(startRank(r, storeDir));
    }
    Map<String, double[]> ours = new HashMap<>();
    for (int r = 0; r < ranks; r++) {
      Process process = processes.get(r);
      try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = out.readLine()) != null; ) {
          System.out.println("[rank " + r + "] " + line);
          Matcher m = RESULT.matcher(line);
          if (m.find()) {
            ours.put(m.group(1) + "/" + m.group(2), new double[] {
              Double.parseDouble(m.group(4)), Double.parseDouble(m.group(5)), Double.parseDouble(m.group(6)),
              Double.parseDouble(m.group(7)), Double.parseDouble(m.group(3))});
          }
        }
      }
      if (!process.waitFor(10, TimeUnit.MINUTES) || process.exitValue() != 0) {
        processes.forEach(Process::destroyForcibly);
        System.err.println("rank " + r + " failed (exit " + (process.isAlive() ? "none: killed" : process.exitValue()) + ")");
        return 1;
      }
    }
    Map<Integer, double[]> nccl = ncclBaseline();
    System.out.printf("%n| tokens/rank | dispatch µs | NCCL a2a µs | ratio | combine µs | NCCL a2a µs | ratio | remote MB | peer-write µs | dispatch/ceiling |%n");
    System.out.printf("|---|---|---|---|---|---|---|---|---|---|%n");
    for (int t : tokens) {
      // The slower rank bounds a step: report the larger of the ranks' medians.
      double dispatch = 0;
      double combine = 0;
      double remote = 0;
      double ceiling = 0;
      for (int r = 0; r < ranks; r++) {
        double[] v = ours.get(r + "/" + t);
        if (v == null) {
          System.err.println("rank " + r + " reported no result for " + t + " tokens");
          return 1;
        }
        dispatch = Math.max(dispatch, v[0]);
        combine = Math.max(combine, v[1]);
        remote = Math.max(remote, v[2]);
        ceiling = Math.max(ceiling, v[3]);
      }
      double[] base = nccl.get(t);
      System.out.printf("| %d | %.1f | %s | %s | %.1f | %s | %s | %.2f | %.1f | %.2f |%n", t, dispatch,
          base == null ? "–" : String.format("%.1f", base[0]), base == null ? "–" : String.format("%.2f×", dispatch / base[0]),
          combine, base == null ? "–" : String.format("%.1f", base[1]), base == null ? "–" : String.format("%.2f×", combine / base[1]),
          remote / 1e6, ceiling, ceiling / dispatch);
    }
    return 0;
  }

  /** Rank processes start here rather than at the CLI root, so they load only what this benchmark needs. */
  public static void main(String[] args) {
    System.exit(new CommandLine(new BenchDataplaneCudaCommand()).execute(args));
  }

  private Process startRank(int r, Path storeDir) throws IOException {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> command = new ArrayList<>(List.of(java));
    command.addAll(WorkerJvm.FLAGS);
    command.addAll(List.of("-cp",
        System.getProperty("java.class.path"), BenchDataplaneCudaCommand.class.getName(), "--rank", String.valueOf(r), "--store", storeDir.toString(), "--ranks", String.valueOf(ranks),
        "--hidden", String.valueOf(hidden), "--topk", String.valueOf(topk), "--experts", String.valueOf(experts),
        "--iterations", String.valueOf(iterations), "--warmup", String.valueOf(warmup),
        "--timeout-ms", String.valueOf(timeoutMillis), "--tokens"));
    command.add(tokenList());
    return new ProcessBuilder(command).redirectErrorStream(true).start();
  }

  private String tokenList() {
    return String.join(",", Arrays.stream(tokens).mapToObj(String::valueOf).toList());
  }

  private int runRank() throws Exception {
    try (DirectoryKeyValueStore kv = new DirectoryKeyValueStore(Files.createDirectories(store))) {
      CudaDataplaneBench bench = new CudaDataplaneBench(
          rank, ranks, experts, hidden, topk, iterations, warmup, kv, Duration.ofMillis(timeoutMillis));
      for (CudaDataplaneBench.Result r : bench.run(tokens, t -> System.out.println("measured " + t + " tokens/rank"))) {
        System.out.printf("RESULT rank=%d tokens=%d chunks=%d dispatch_us=%.2f combine_us=%.2f remote_bytes=%d peer_write_us=%.2f%n",
            rank, r.tokens(), r.chunks(), r.dispatchMicros(), r.combineMicros(), r.remoteBytes(), r.peerWriteMicros());
      }
    }
    return 0;
  }

  /** tokens → {dispatch µs, combine µs} from the PyTorch script, or empty when skipped. */
  private Map<Integer, double[]> ncclBaseline() throws IOException, InterruptedException {
    Map<Integer, double[]> results = new HashMap<>();
    if (ncclScript.equals("none")) {
      System.out.println("NCCL baseline skipped (--nccl-script none)");
      return results;
    }
    List<String> command = List.of(python, ncclScript, "--tokens",
        tokenList(),
        "--hidden", String.valueOf(hidden), "--topk", String.valueOf(topk), "--ranks", String.valueOf(ranks),
        "--iterations", String.valueOf(iterations), "--warmup", String.valueOf(warmup));
    System.out.println("NCCL baseline: " + String.join(" ", command));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = out.readLine()) != null; ) {
        System.out.println("[nccl] " + line);
        Matcher m = NCCL.matcher(line);
        if (m.find()) {
          results.put(Integer.parseInt(m.group(1)), new double[] {Double.parseDouble(m.group(3)), Double.parseDouble(m.group(5))});
        }
      }
    }
    if (process.waitFor() != 0) {
      System.err.println("NCCL baseline failed (exit " + process.exitValue() + "); ratios are left out");
    }
    return results;
  }
}
