package io.elasticmoe.worker.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The threads one {@link CpuDispatchBackend} spreads its per-token compute over (fp8 cast, the copies into
 * and out of the buffer, the combine reduction). Only compute and lane puts run here: every other UCX call
 * stays on the rank's own thread.
 *
 * <p>{@link #forRanges} splits {@code [0, n)} into one contiguous range per thread and runs the first on
 * the calling thread; it returns once all ranges are done, so their writes are visible to the caller.
 * Range {@code r} always runs on helper thread {@code r}, so a thread keeps its lane and, call after
 * call, the same tokens' slots in its cache.
 *
 * <p>A helper that finished spins for {@link #SPIN_NANOS} before it parks: the phases of a dispatch and a
 * combine come a few hundred microseconds apart, and waking a parked thread (a futex call and, on an idle
 * core, a wake from a sleep state) cost more than the work of a phase at small hidden sizes. The price is
 * up to that long of a busy core per helper after the last call.
 */
public final class ComputePool implements AutoCloseable {

  /** How long an idle helper spins before parking: longer than the gap between phases of one step. */
  static final long SPIN_NANOS = 2_000_000L;

  /**
   * A body over {@code [from, to)}; each range gets its own call, so per-range scratch is local to it.
   * {@code range} numbers the ranges from 0 (the calling thread's) to {@link #rangesFor} − 1: what a
   * range may own besides its indices (a UCX lane, a result slot).
   */
  public interface RangeBody {
    void run(int range, int from, int to);
  }

  private final int threads;
  private final Thread[] helpers;
  /** 1 while helper i is parked (or about to park); the caller unparks only those. */
  private final AtomicIntegerArray parked;
  private final AtomicInteger pending = new AtomicInteger();
  private final AtomicReference<RuntimeException> failure = new AtomicReference<>();
  /** Bumped by the caller for every call that has work for helpers; publishes the fields below. */
  private volatile long generation;
  private volatile boolean closed;
  private RangeBody body;
  private int n;
  private int ranges;

  /** {@code threads} ≥ 1 counts the calling thread: 1 runs everything inline and starts no thread. */
  public ComputePool(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException("compute threads is " + threads + "; it must be at least 1");
    }
    this.threads = threads;
    this.helpers = new Thread[threads];
    this.parked = new AtomicIntegerArray(threads);
    for (int helper = 1; helper < threads; helper++) {
      int index = helper;
      helpers[helper] = Thread.ofPlatform().daemon().name("ep-compute-" + helper).start(() -> runHelper(index));
    }
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

  /**
   * Runs {@code body} over {@code [0, n)} split into at most {@link #threads()} ranges of at least {@code grain}.
   * One caller at a time (the rank's thread).
   */
  public void forRanges(int n, int grain, RangeBody body) {
    int ranges = rangesFor(n, grain);
    if (ranges == 1) {
      body.run(0, 0, n);
      return;
    }
    if (closed) {
      throw new IllegalStateException("the compute pool is closed");
    }
    this.body = body;
    this.n = n;
    this.ranges = ranges;
    failure.set(null);
    pending.set(ranges - 1);
    generation++;
    // A helper marks itself parked before it rechecks the generation, and the generation is bumped before
    // the marks are read: either the helper sees the new generation or it is unparked here.
    for (int helper = 1; helper < ranges; helper++) {
      if (parked.get(helper) == 1) {
        LockSupport.unpark(helpers[helper]);
      }
    }
    RuntimeException own = null;
    try {
      body.run(0, 0, (int) ((long) n / ranges));
    } catch (RuntimeException e) {
      own = e;
    }
    // Every range is waited for, even after a failure: none may still write into the caller's arrays.
    long start = System.nanoTime();
    while (pending.get() != 0) {
      if (System.nanoTime() - start < SPIN_NANOS) {
        Thread.onSpinWait();
      } else {
        Thread.yield();
      }
    }
    this.body = null;
    RuntimeException first = own != null ? own : failure.get();
    if (first != null) {
      throw first;
    }
  }

  /** How many ranges {@link #forRanges} makes of {@code n} items: at most one per thread, each ≥ {@code grain}. */
  public int rangesFor(int n, int grain) {
    return Math.min(threads, Math.max(1, n / Math.max(1, grain)));
  }

  private void runHelper(int helper) {
    long seen = 0;
    while (true) {
      long current = awaitWork(helper, seen);
      if (closed) {
        return;
      }
      seen = current;
      int ranges = this.ranges;
      if (helper >= ranges) {
        continue;
      }
      try {
        body.run(helper, (int) ((long) n * helper / ranges), (int) ((long) n * (helper + 1) / ranges));
      } catch (RuntimeException e) {
        failure.compareAndSet(null, e);
      } catch (Error e) {
        failure.compareAndSet(null, new IllegalStateException("compute range failed", e));
      }
      pending.decrementAndGet();
    }
  }

  /** Spins, then parks, until the generation moves past {@code seen} or the pool closes; returns it. */
  private long awaitWork(int helper, long seen) {
    long start = System.nanoTime();
    long current;
    while ((current = generation) == seen && !closed) {
      if (System.nanoTime() - start < SPIN_NANOS) {
        Thread.onSpinWait();
        continue;
      }
      parked.set(helper, 1);
      if (generation == seen && !closed) {
        LockSupport.park(this);
      }
      parked.set(helper, 0);
    }
    return current;
  }

  @Override
  public void close() {
    closed = true;
    for (int helper = 1; helper < threads; helper++) {
      LockSupport.unpark(helpers[helper]);
    }
  }
}
