package io.elasticmoe.worker.cpu;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;

/**
 * Wall time a {@link CpuDispatchBackend} spent in each phase of its calls since the last {@link #reset},
 * summed over calls: what {@code bench dataplane} prints as the per-phase breakdown. Two clock reads per
 * phase and call, nothing per row.
 */
public final class PhaseTimes {

  /** The phases in call order; dispatch runs the first five, combine the last five. */
  public enum Phase {
    /** fp8 cast (or bf16 copy) of every token into its send slot; with put lanes also its puts. */
    DISPATCH_CAST,
    /** The data puts (and same-rank copies) when they do not go out in the cast pass (no lanes). */
    DISPATCH_PUTS,
    /** Flushing the data, then putting and flushing the counters. */
    DISPATCH_FLUSH_SIGNAL,
    /** Waiting for every live source's counters. */
    DISPATCH_WAIT,
    /** Building the result: each received row's offset and source token (its header); rows stay in place. */
    DISPATCH_RESULT,
    /** Copying the expert outputs into their send slots; with put lanes also their puts. */
    COMBINE_STAGE,
    /** The combine puts when they do not go out in the staging pass (no lanes). */
    COMBINE_PUTS,
    COMBINE_FLUSH_SIGNAL,
    COMBINE_WAIT,
    /** The weighted top-k reduction into bf16. */
    COMBINE_REDUCE
  }

  private final long[] nanos = new long[Phase.values().length];
  private long phaseStart;

  /** Starts timing the first phase of a call. */
  void start() {
    phaseStart = System.nanoTime();
  }

  /** Ends {@code phase} (started by {@link #start} or the previous {@code end}) and starts the next. */
  void end(Phase phase) {
    long now = System.nanoTime();
    nanos[phase.ordinal()] += now - phaseStart;
    phaseStart = now;
  }

  public long nanos(Phase phase) {
    return nanos[phase.ordinal()];
  }

  public Map<Phase, Long> snapshot() {
    Map<Phase, Long> copy = new EnumMap<>(Phase.class);
    for (Phase phase : Phase.values()) {
      copy.put(phase, nanos[phase.ordinal()]);
    }
    return copy;
  }

  public void reset() {
    Arrays.fill(nanos, 0);
  }
}
