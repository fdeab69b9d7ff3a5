package io.elasticmoe.worker.cli;

import io.elasticmoe.worker.bench.dataplane.DataplaneBenchConfig;
import io.elasticmoe.worker.bench.dataplane.DataplaneBenchmark;
import io.elasticmoe.worker.bench.dataplane.DataplaneKernelsBenchmark;
import io.elasticmoe.worker.cpu.PhaseTimes;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.WorkerJvm;
import io.elasticmoe.worker.transport.UcxTransport;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code elasticmoe bench dataplane}: dispatch/combine latency and bandwidth against ucx_perftest. */
@Command(
    name = "dataplane",
    mixinStandardHelpOptions = true,
    description = {
      "Runs the EP data plane with one process per rank on this host and reports dispatch/combine latency",
      "(p50/p99) and logical bandwidth (NIXL-EP accounting: dispatch 16+H+4H/128 bytes for fp8, combine 2H",
      "bytes per selected (token, expert)), side by side with ucx_perftest -t ucp_put_bw at the same sizes."
    })
public final class BenchDataplaneCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--backend", defaultValue = "cpu", description = "Data-plane backend: cpu (default: ${DEFAULT-VALUE}).")
  String backend;

  @Option(names = "--ranks", defaultValue = "4", description = "Rank processes (default: ${DEFAULT-VALUE}).")
  int ranks;

  @Option(names = "--tokens", defaultValue = "128", description = "Tokens per rank (default: ${DEFAULT-VALUE}).")
  int tokens;

  @Option(names = "--hidden", defaultValue = "7168", split = ",",
      description = "Hidden sizes, comma-separated: one run and one ratio line each (default: ${DEFAULT-VALUE}).")
  List<Integer> hiddenSizes;

  @Option(names = "--topk", defaultValue = "8", description = "Experts per token (default: ${DEFAULT-VALUE}).")
  int topk;

  @Option(names = "--experts-per-rank", defaultValue = "32", description = "Local experts (default: ${DEFAULT-VALUE}).")
  int expertsPerRank;

  @Option(names = "--dispatch-dtype", defaultValue = "fp8", description = "fp8 or bf16 (default: ${DEFAULT-VALUE}).")
  String dispatchDtype;

  @Option(names = "--warmup", defaultValue = "1000",
      description = "Untimed steps first: until the JIT has compiled the step's loops (Vector API code runs 20-40x"
          + " slower before), a call measures the compiler, not the data plane (default: ${DEFAULT-VALUE}).")
  int warmup;

  @Option(names = "--loopback-warmup-ms", defaultValue = "0",
      description = "Each rank first warms up alone this long, as `run` does before it joins (default: ${DEFAULT-VALUE}).")
  int loopbackWarmupMillis;

  @Option(names = "--iterations", defaultValue = "200", description = "Timed steps (default: ${DEFAULT-VALUE}).")
  int iterations;

  @Option(names = "--transports", defaultValue = UcxTransport.HOST_TRANSPORTS,
      description = "UCX_TLS for ranks and baseline (default: ${DEFAULT-VALUE}).")
  String transports;

  @Option(names = "--baseline-iterations", defaultValue = "20000",
      description = "ucx_perftest iterations; 0 skips the baseline (default: ${DEFAULT-VALUE}).")
  int baselineIterations;

  @Option(names = "--baseline-runs", defaultValue = "3",
      description = "ucx_perftest runs per message size; the ratio uses their median (default: ${DEFAULT-VALUE}).")
  int baselineRuns;

 @Option(names = "--compute-threads", defaultValue = "0",
      description = "Compute threads per rank (cast, row copies, reduction); 0 = the backend's default, the"
          + " available processors / --ranks (default: ${DEFAULT-VALUE}).")
  int computeThreads;

  @Option(names = "--micro", description = "Run the JMH per-token benchmarks (fp8 cast/uncast, combine reduction) instead.")
  boolean micro;

  @Override
  public Integer call() throws Exception {
    if (micro) {
      return runMicro();
    }
    if (!backend.equals("cpu")) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--backend is " + backend + "; this benchmark runs the cpu backend (the cuda backend has its own bench)");
    }
    if (!dispatchDtype.equals("fp8") && !dispatchDtype.equals("bf16")) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--dispatch-dtype is " + dispatchDtype + "; use fp8 or bf16");
    }
    if (ranks < 2) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--ranks is " + ranks + "; at least 2 are needed");
    }
    if (topk < 1 || topk > DispatchLayout.MAX_TOPK || topk > ranks * expertsPerRank) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--topk is " + topk + "; it must be in 1.."
          + Math.min(DispatchLayout.MAX_TOPK, ranks * expertsPerRank) + " (MAX_TOPK and the number of experts)");
    }
    if (loopbackWarmupMillis < 0) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--loopback-warmup-ms is " + loopbackWarmupMillis + "; it must be 0 or more");
    }
    if (warmup < 0) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--warmup is " + warmup + "; it must be 0 or more");
    }
    if (iterations < 1) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--iterations is " + iterations + "; at least 1");
    }
    if (baselineRuns < 1) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--baseline-runs is " + baselineRuns + "; at least 1");
    }
    if (computeThreads < 0) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--compute-threads is " + computeThreads + "; it must be 0 (default) or more");
    }
    boolean fp8 = dispatchDtype.equals("fp8");
    for (int hidden : hiddenSizes) {
      try {
        DispatchLayout.of(ranks, expertsPerRank, tokens, hidden);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
      }
      if (fp8 && hidden % DispatchLayout.FP8_HIDDEN_ALIGNMENT != 0) {
        throw new CommandLine.ParameterException(spec.commandLine(),
            "--hidden is " + hidden + "; fp8 dispatch needs a multiple of " + DispatchLayout.FP8_HIDDEN_ALIGNMENT);
      }
    }
    var out = spec.commandLine().getOut();
    StringBuilder ratios = new StringBuilder();
    for (int hidden : hiddenSizes) {
      DataplaneBenchConfig config = new DataplaneBenchConfig(
          ranks, tokens, hidden, topk, expertsPerRank, fp8, warmup, iterations, transports, computeThreads,
          loopbackWarmupMillis);
      DataplaneBenchmark.Result r = DataplaneBenchmark.run(config, baselineIterations, baselineRuns, System.out);
      out.printf("backend=cpu ranks=%d tokens=%d hidden=%d topk=%d experts/rank=%d dispatch=%s combine=bf16 tls=%s"
          + " compute-threads=%d%n", ranks, tokens, hidden, topk, expertsPerRank, dispatchDtype, transports,
          r.computeThreads());
      out.printf("%-9s %10s %10s %10s %14s %16s %8s%n", "call", "p50 us", "p99 us", "mean us", "agg GB/s",
          "perftest GB/s", "ratio");
      row(out, "dispatch", r.dispatch().p50Micros(), r.dispatch().p99Micros(), r.dispatch().meanMicros(),
          r.dispatchGBps(), r.baselineDispatchGBps());
      row(out, "combine", r.combine().p50Micros(), r.combine().p99Micros(), r.combine().meanMicros(),
          r.combineGBps(), r.baselineCombineGBps());
      out.println("phase (us per call, mean over ranks and steps):");
      for (PhaseTimes.Phase phase : PhaseTimes.Phase.values()) {
        out.printf("  %-22s %10.1f%n", phase.name().toLowerCase(java.util.Locale.ROOT), r.phaseMicros().get(phase));
      }
      ratios.append(String.format(java.util.Locale.ROOT,
          "RATIO hidden=%d threads=%d dispatch %.1f ms p50 %.2f GB/s (%s of ucx_perftest %.2f) | combine %.1f ms p50"
              + " %.2f GB/s (%s of ucx_perftest %.2f)%n",
          hidden, r.computeThreads(), r.dispatch().p50Micros() / 1e3, r.dispatchGBps(),
          percent(r.dispatchGBps(), r.baselineDispatchGBps()), r.baselineDispatchGBps(),
          r.combine().p50Micros() / 1e3, r.combineGBps(), percent(r.combineGBps(), r.baselineCombineGBps()),
          r.baselineCombineGBps()));
      out.flush();
    }
    // One line per hidden size, together at the end: what a results table is filled from.
    out.print(ratios);
    out.flush();
    return 0;
  }

  private static String percent(double value, double baseline) {
    return baseline > 0 ? String.format(java.util.Locale.ROOT, "%.1f%%", 100 * value / baseline) : "-";
  }

  private int runMicro() throws RunnerException {
    Options options = new OptionsBuilder()
        .include(DataplaneKernelsBenchmark.class.getName() + "\\.")
        .param("hidden", hiddenSizes.stream().map(String::valueOf).toArray(String[]::new))
        .param("topk", Integer.toString(topk))
        .forks(1)
        .warmupIterations(3)
        .warmupTime(TimeValue.seconds(1))
        .measurementIterations(5)
        .measurementTime(TimeValue.seconds(1))
        .jvmArgsAppend(WorkerJvm.FLAGS.toArray(String[]::new))
        .build();
    Map<String, Double> score = new LinkedHashMap<>();
    for (RunResult result : new Runner(options).run()) {
      String name = result.getParams().getBenchmark();
      score.put(name.substring(name.lastIndexOf('.') + 1) + "@" + result.getParams().getParam("hidden"),
          result.getPrimaryResult().getScore());
    }
    var out = spec.commandLine().getOut();
    for (int hidden : hiddenSizes) {
      out.printf("hidden=%d topk=%d, ns per token (JMH average time)%n", hidden, topk);
      double copy = score.get("bf16RowCopyBaseline@" + hidden);
      double read = score.get("oneRowReadBaseline@" + hidden);
      out.printf("%-28s %10.1f ns  (baseline)%n", "bf16RowCopyBaseline", copy);
      for (String cast : List.of("fp8CastScalar", "fp8CastBeforeVectorApi", "fp8Cast", "fp8CastRoundScale",
          "fp8UncastBeforeVectorApi", "fp8Uncast")) {
        double ns = score.get(cast + "@" + hidden);
        out.printf("%-28s %10.1f ns  %.1fx the bf16 row copy%n", cast, ns, ns / copy);
      }
      out.printf("%-28s %10.1f ns  (baseline)%n", "oneRowReadBaseline", read);
      for (String reduction : List.of("combineReduceBeforeVectorApi", "combineReduce")) {
        double ns = score.get(reduction + "@" + hidden);
        out.printf("%-28s %10.1f ns  %.1fx one row read (top-%d)%n", reduction, ns, ns / read, topk);
      }
    }
    out.flush();
    return 0;
  }

  private static void row(java.io.PrintWriter out, String call, double p50, double p99, double mean, double gbps,
      double baseline) {
    out.printf("%-9s %10.1f %10.1f %10.1f %14.2f %16s %8s%n", call, p50, p99, mean, gbps,
        baseline > 0 ? String.format("%.2f", baseline) : "-", baseline > 0 ? String.format("%.1f%%", 100 * gbps / baseline) : "-");
  }
}
