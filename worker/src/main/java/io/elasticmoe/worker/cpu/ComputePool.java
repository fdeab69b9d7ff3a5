package io.elasticmoe.worker.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The threads one {@link CpuDispatchBackend} spreads its per-token compute over (fp8 cast, the copies into
 * and out of the buffer, the combine reduction). Only compute runs here: every UCX call stays on the
 * rank's own thread, whose worker is single-threaded.
 *
 * <p>{@link #forRanges} splits {@code [0, n)} into one contiguous range per thread and runs the first on
 * the calling thread; it returns once all ranges are done, so their writes are visible to the caller.
 */
public final class ComputePool implements AutoCloseable {

  /**
   * A body over {@code [from, to)}; each range gets its own call, so per-range scratch is local to it.
   * {@code range} numbers the ranges from 0 (the calling thread's) to {@link #rangesFor} − 1: what a
   * range may own besides its indices (a UCX lane, a result slot).
   */
  public interface RangeBody {
    void run(int range, int from, int to);
  }

  private final int threads;
  private final ExecutorService helpers;

  /** {@code threads} ≥ 1 counts the calling thread: 1 runs everything inline and starts no thread. */
  public ComputePool(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException("compute threads is " + threads + "; it must be at least 1");
    }
    this.threads = threads;
    this.helpers = threads == 1
        ? null
        : Executors.newFixedThreadPool(threads - 1, Thread.ofPlatform().daemon().name("ep-compute-", 0).factory());
  }

  /**
   * The default for a rank that shares its host with {@code ranksOnHost} ranks: an equal share of the
   * processors this JVM may use (a container's CPU limit included), at least 1. Ranks that spin in their
   * waits need their own core, so the share is not rounded up.
   */
  public static int defaultThreads(int ranksOnHost) {
    if (ranksOnHost < 1) {
      throw new IllegalArgumentException("ranks on the host is " + ranksOnHost + "; it must be at least 1");
    }
    return Math.max(1, Runtime.getRuntime().availableProcessors() / ranksOnHost);
  }

  public int threads() {
    return threads;
  }

  /** Runs {@code body} over {@code [0, n)} split into at most {@link #threads()} ranges of at least {@code grain}. */
  public void forRanges(int n, int grain, RangeBody body) {
    int ranges = rangesFor(n, grain);
    if (ranges == 1) {
      body.run(0, 0, n);
      return;
    }
    List<Future<?>> running = new ArrayList<>(ranges - 1);
    for (int r = 1; r < ranges; r++) {
      int range = r;
      int from = (int) ((long) n * r / ranges);
      int to = (int) ((long) n * (r + 1) / ranges);
      running.add(helpers.submit(() -> body.run(range, from, to)));
    }
    RuntimeException failure = null;
    try {
      body.run(0, 0, (int) ((long) n / ranges));
    } catch (RuntimeException e) {
      failure = e;
    }
    // Every range is waited for, even after a failure: none may still write into the caller's arrays.
    for (Future<?> range : running) {
      try {
        range.get();
      } catch (ExecutionException e) {
        if (failure == null) {
          failure = e.getCause() instanceof RuntimeException runtime
              ? runtime : new IllegalStateException("compute range failed", e.getCause());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for compute threads", e);
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  /** How many ranges {@link #forRanges} makes of {@code n} items: at most one per thread, each ≥ {@code grain}. */
  public int rangesFor(int n, int grain) {
    return Math.min(threads, Math.max(1, n / Math.max(1, grain)));
  }

  @Override
  public void close() {
    if (helpers != null) {
      helpers.shutdownNow();
    }
  }
}
