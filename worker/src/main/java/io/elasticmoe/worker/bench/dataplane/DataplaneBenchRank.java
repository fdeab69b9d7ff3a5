package io.elasticmoe.worker.bench.dataplane;

import io.elasticmoe.worker.cpu.ComputePool;
import io.elasticmoe.worker.cpu.CpuDispatchBackend;
import io.elasticmoe.worker.cpu.LoopbackWarmup;
import io.elasticmoe.worker.cpu.PhaseTimes;
import io.elasticmoe.worker.runtime.Bf16;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.DispatchResult;
import io.elasticmoe.worker.store.DirectoryKeyValueStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * One rank process of {@code bench dataplane}: warms up alone if asked (as {@code run} does before it joins), connects to its peers, runs warm-up and timed
 * dispatch+combine steps on seeded inputs, and prints its samples and its time per phase (summed over the
 * timed steps) as {@code KEY value,...} lines that {@link DataplaneBenchmark} parses. Started by the benchmark with the worker's own classpath.
 */
public final class DataplaneBenchRank {

  private DataplaneBenchRank() {}

  public static void main(String[] args) throws Exception {
    DataplaneBenchConfig config = DataplaneBenchConfig.fromArgs(args, 1);
    Path storeDir = Path.of(args[0]);
    int rank = Integer.parseInt(args[args.length - 1]);
    DispatchLayout layout =
        DispatchLayout.of(config.ranks(), config.expertsPerRank(), config.tokens(), config.hidden());
    int numExperts = config.ranks() * config.expertsPerRank();
    Random random = new Random(1000L + rank);
    short[] x = new short[config.tokens() * config.hidden()];
    for (int i = 0; i < x.length; i++) {
      x[i] = Bf16.fromFloat((float) random.nextGaussian() * 0.1f);
    }
    int[] topkIdx = new int[config.tokens() * config.topk()];
    float[] weights = new float[topkIdx.length];
    for (int t = 0; t < config.tokens(); t++) {
      int[] experts = random.ints(0, numExperts).distinct().limit(config.topk()).toArray();
      for (int k = 0; k < config.topk(); k++) {
        topkIdx[t * config.topk() + k] = experts[k];
        weights[t * config.topk() + k] = random.nextFloat();
      }
    }
    short[] y = new short[config.expertsPerRank() * config.ranks() * config.tokens() * config.hidden()];
    for (int i = 0; i < y.length; i += 97) {
      y[i] = Bf16.fromFloat(random.nextFloat());
    }
    int[] world = IntStream.range(0, config.ranks()).toArray();
    long[] dispatchNanos = new long[config.iterations()];
    long[] combineNanos = new long[config.iterations()];
    // Every rank of the benchmark shares this host.
    int computeThreads =
        config.computeThreads() > 0 ? config.computeThreads() : ComputePool.defaultThreads(config.ranks());
    if (config.loopbackWarmupMillis() > 0) {
      LoopbackWarmup.Report warmup = LoopbackWarmup.run(
          new LoopbackWarmup.Shape(config.expertsPerRank(), config.tokens(), config.hidden(), config.topk(), config.fp8()),
          config.transports(), Duration.ofMillis(config.loopbackWarmupMillis()));
      System.out.println("WARMUP " + warmup.describe());
    }
    PhaseTimes phases;
    try (DirectoryKeyValueStore store = new DirectoryKeyValueStore(storeDir);
        CpuDispatchBackend backend = new CpuDispatchBackend(
            layout, rank, store, Duration.ofSeconds(30), Duration.ofSeconds(120), config.transports(),
            computeThreads)) {
      backend.connect(0, world, world, true);
      phases = backend.phaseTimes();
      for (int i = -config.warmup(); i < config.iterations(); i++) {
        if (i == 0) {
          phases.reset();
        }
        long start = System.nanoTime();
        DispatchResult result =
            backend.dispatch(x, config.tokens(), topkIdx, config.topk(), numExperts, config.fp8(), false);
        long middle = System.nanoTime();
        backend.combine(y, topkIdx, weights, result.handle());
        long end = System.nanoTime();
        if (i >= 0) {
          dispatchNanos[i] = middle - start;
          combineNanos[i] = end - middle;
        }
      }
      if (!backend.takePeerTimeouts().isEmpty()) {
        throw new IllegalStateException(
            "rank " + rank + " masked a peer during the benchmark: mask " + Arrays.toString(backend.queryMask()));
      }
    }
    System.out.println("SELECTED " + Arrays.stream(topkIdx).filter(e -> e >= 0).count());
    System.out.println("DISPATCH_NS " + join(dispatchNanos));
    System.out.println("COMBINE_NS " + join(combineNanos));
    System.out.println("COMPUTE_THREADS " + computeThreads);
    long[] phaseNanos = new long[PhaseTimes.Phase.values().length];
    for (PhaseTimes.Phase phase : PhaseTimes.Phase.values()) {
      phaseNanos[phase.ordinal()] = phases.nanos(phase);
    }
    System.out.println("PHASE_NS " + join(phaseNanos));
  }

  private static String join(long[] values) {
    StringBuilder out = new StringBuilder();
    for (long value : values) {
      out.append(out.isEmpty() ? "" : ",").append(value);
    }
    return out.toString();
  }
}
