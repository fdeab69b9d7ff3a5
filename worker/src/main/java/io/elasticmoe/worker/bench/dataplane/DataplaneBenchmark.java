package io.elasticmoe.worker.bench.dataplane;

import io.elasticmoe.worker.cpu.PhaseTimes;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.WorkerJvm;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the CPU data plane as one process per rank on this host, then {@code ucx_perftest} at the same
 * message sizes, and reports latency percentiles and logical bandwidth with NIXL-EP's accounting side by
 * side with the baseline.
 */
public final class DataplaneBenchmark {

  /**
   * Latency over all ranks' samples; bandwidth = Σ over ranks of (selections · message bytes / p50);
   * {@code phaseMicros} = time per phase per call, averaged over ranks and timed steps.
   */
  public record Result(
      DataplaneBenchConfig config,
      int computeThreads,
      LatencyStats dispatch,
      LatencyStats combine,
      double dispatchGBps,
      double combineGBps,
      double baselineDispatchGBps,
      double baselineCombineGBps,
      Map<PhaseTimes.Phase, Double> phaseMicros) {}

  private DataplaneBenchmark() {}

  /**
   * {@code baselineRuns} ucx_perftest runs per message size, after the ranks; the baseline is their median
   * (one run swung 35–80 GB/s between calls on the 32-core device host, so a single run made the ratio
   * mostly a draw of the baseline).
   */
  public static Result run(DataplaneBenchConfig config, int baselineIterations, int baselineRuns, PrintStream progress)
      throws IOException, InterruptedException {
    long bufferBytes =
        DispatchLayout.of(config.ranks(), config.expertsPerRank(), config.tokens(), config.hidden()).totalBytes();
    Path storeDir = Files.createTempDirectory("elasticmoe-bench-store");
    progress.printf("starting %d rank processes (buffer %.1f MiB each)%n", config.ranks(), bufferBytes / 1048576.0);
    List<Process> processes = new ArrayList<>();
    for (int rank = 0; rank < config.ranks(); rank++) {
      processes.add(startRank(config, storeDir, rank, bufferBytes));
    }
    List<Map<String, String>> outputs = new ArrayList<>();
    try {
      for (int rank = 0; rank < config.ranks(); rank++) {
        outputs.add(collect(processes.get(rank), rank));
        String warmup = outputs.get(rank).get("WARMUP");
        progress.printf("rank %d finished %d iterations%s%n", rank, config.iterations(), warmup == null ? "" : " (" + warmup + ")");
      }
    } finally {
      // One failed rank leaves the others waiting on it: never leave them behind.
      processes.forEach(Process::destroyForcibly);
    }
    List<long[]> dispatch = new ArrayList<>();
    List<long[]> combine = new ArrayList<>();
    double dispatchGBps = 0;
    double combineGBps = 0;
    long[] phaseNanos = new long[PhaseTimes.Phase.values().length];
    for (Map<String, String> output : outputs) {
      long[] rankPhases = parse(output.get("PHASE_NS"));
      for (int i = 0; i < phaseNanos.length; i++) {
        phaseNanos[i] += rankPhases[i];
      }
      long selected = Long.parseLong(output.get("SELECTED"));
      long[] d = parse(output.get("DISPATCH_NS"));
      long[] c = parse(output.get("COMBINE_NS"));
      dispatch.add(d);
      combine.add(c);
      dispatchGBps += selected * config.dispatchBytesPerSelection() / (LatencyStats.of(d).p50Micros() * 1e3);
      combineGBps += selected * config.combineBytesPerSelection() / (LatencyStats.of(c).p50Micros() * 1e3);
    }
    double baselineDispatch = 0;
    double baselineCombine = 0;
    if (baselineIterations > 0) {
      baselineDispatch = medianBaseline(config.dispatchBytesPerSelection(), baselineIterations, baselineRuns,
          config.transports(), progress);
      baselineCombine = medianBaseline(config.combineBytesPerSelection(), baselineIterations, baselineRuns,
          config.transports(), progress);
    }
    Map<PhaseTimes.Phase, Double> phaseMicros = new EnumMap<>(PhaseTimes.Phase.class);
    for (PhaseTimes.Phase phase : PhaseTimes.Phase.values()) {
      phaseMicros.put(phase, phaseNanos[phase.ordinal()] / 1e3 / config.ranks() / config.iterations());
    }
    int computeThreads = Integer.parseInt(outputs.get(0).get("COMPUTE_THREADS"));
    return new Result(config, computeThreads, LatencyStats.of(concat(dispatch)), LatencyStats.of(concat(combine)),
        dispatchGBps, combineGBps, baselineDispatch, baselineCombine, phaseMicros);
  }

  private static double medianBaseline(
      long messageBytes, int iterations, int runs, String transports, PrintStream progress)
      throws IOException, InterruptedException {
    double[] gbps = new double[runs];
    for (int run = 0; run < runs; run++) {
      gbps[run] = UcxPerftestBaseline.putBandwidthGBps(messageBytes, iterations, transports);
    }
    StringBuilder each = new StringBuilder();
    for (double value : gbps) {
      each.append(String.format(java.util.Locale.ROOT, " %.2f", value));
    }
    Arrays.sort(gbps);
    double median = runs % 2 == 1 ? gbps[runs / 2] : (gbps[runs / 2 - 1] + gbps[runs / 2]) / 2;
    progress.printf(java.util.Locale.ROOT, "ucx_perftest ucp_put_bw at %d bytes, GB/s per run:%s; median %.2f%n",
        messageBytes, each, median);
    return median;
  }

  private static Process startRank(DataplaneBenchConfig config, Path storeDir, int rank, long bufferBytes)
      throws IOException {
    String java = ProcessHandle.current().info().command()
        .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    List<String> command = new ArrayList<>(List.of(java));
    command.addAll(WorkerJvm.FLAGS);
    command.addAll(List.of("-Xmx2g",
        "-XX:MaxDirectMemorySize=" + (bufferBytes + (256L << 20)),
        "-cp", System.getProperty("java.class.path"), DataplaneBenchRank.class.getName(), storeDir.toString()));
    command.addAll(Arrays.asList(config.toArgs()));
    command.add(Integer.toString(rank));
    return new ProcessBuilder(command).redirectErrorStream(true).start();
  }

  private static Map<String, String> collect(Process process, int rank) throws IOException, InterruptedException {
    Map<String, String> values = new HashMap<>();
    List<String> lines = new ArrayList<>();
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream()))) {
      String line;
      while ((line = reader.readLine()) != null) {
        lines.add(line);
        int space = line.indexOf(' ');
        if (space > 0) {
          values.put(line.substring(0, space), line.substring(space + 1));
        }
      }
    }
    if (!process.waitFor(10, TimeUnit.MINUTES) || process.exitValue() != 0 || !values.containsKey("PHASE_NS")) {
      throw new IOException("rank " + rank + " failed (exit " + (process.isAlive() ? "none" : process.exitValue())
          + "):\n" + String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size())));
    }
    return values;
  }

  private static long[] parse(String csv) {
    return Arrays.stream(csv.split(",")).mapToLong(Long::parseLong).toArray();
  }

  private static long[] concat(List<long[]> parts) {
    return parts.stream().flatMapToLong(Arrays::stream).toArray();
  }
}
