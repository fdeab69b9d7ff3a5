package io.elasticmoe.worker.bench.dataplane;

import java.util.Arrays;

/** Percentiles of one call's latency samples, in microseconds (nearest-rank). */
public record LatencyStats(double p50Micros, double p99Micros, double meanMicros) {

  public static LatencyStats of(long[] nanos) {
    if (nanos.length == 0) {
      throw new IllegalArgumentException("no latency samples; run at least one iteration");
    }
    long[] sorted = nanos.clone();
    Arrays.sort(sorted);
    return new LatencyStats(
        percentile(sorted, 0.50) / 1e3, percentile(sorted, 0.99) / 1e3, Arrays.stream(sorted).average().orElse(0) / 1e3);
  }

  private static double percentile(long[] sorted, double q) {
    int index = (int) Math.ceil(q * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, index))];
  }
}
