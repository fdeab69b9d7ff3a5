package io.elasticmoe.worker.cpu;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The threads one {@link CpuDispatchBackend} spreads its per-token compute over (fp8 cast, the copies into
 * and out of the buffer, the combine reduction). Only compute runs here: every UCX call stays on the
 * rank's own thread, whose worker is single-threaded.
 *
 * <p>{@link #forRanges} splits {@code [0, n)} into one contiguous range per thread and runs the first on
 * the calling thread; it returns once all ranges are done, so their writes are visible to the caller.
 *
 * <p>Each helper owns one slot and the caller unparks every helper it hands a range to itself. An executor's
 * shared queue wakes its parked takers one after another (each woken taker signals the next), and on the
 * virtual machines we measured on, waking an idle vCPU costs tens of microseconds: seven helpers woken in
 * series made every hand-off cost 350-400 µs whatever its work (docs/benchmarks/dataplane.md). Helpers park
 * between hand-offs (spinning ones filled a 32-core host's cores and slowed every rank there); the caller,
 * whose core is its own anyway, spins briefly for the last range before it parks too.
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

  /** How long the caller spins for the helpers' ranges after its own before it parks. */
  private static final long CALLER_SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(200);

  private final int threads;
  private final Helper[] helpers;
  private final AtomicInteger unfinished = new AtomicInteger();
  private final AtomicReference<Throwable> helperFailure = new AtomicReference<>();
  /** The caller, while it is parked (or about to park) waiting for the last helper. */
  private volatile Thread waitingCaller;

  /** {@code threads} ≥ 1 counts the calling thread: 1 runs everything inline and starts no thread. */
  public ComputePool(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException("compute threads is " + threads + "; it must be at least 1");
    }
    this.threads = threads;
    this.helpers = new Helper[threads - 1];
    for (int i = 0; i < helpers.length; i++) {
      helpers[i] = new Helper();
      helpers[i].thread = Thread.ofPlatform().daemon().name("ep-compute-" + i).start(helpers[i]);
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
   * One caller at a time: the backend's rank thread.
   */
  public void forRanges(int n, int grain, RangeBody body) {
    int ranges = rangesFor(n, grain);
    if (ranges == 1) {
      body.run(0, 0, n);
      return;
    }
    unfinished.set(ranges - 1);
    for (int r = 1; r < ranges; r++) {
      helpers[r - 1].start(body, r, (int) ((long) n * r / ranges), (int) ((long) n * (r + 1) / ranges));
    }
    RuntimeException failure = null;
    try {
      body.run(0, 0, (int) ((long) n / ranges));
    } catch (RuntimeException e) {
      failure = e;
    }
    // Every range is waited for, even after a failure: none may still write into the caller's arrays.
    awaitHelpers();
    Throwable helper = helperFailure.getAndSet(null);
    if (failure == null && helper != null) {
      if (helper instanceof Error error) {
        throw error;
      }
      failure = helper instanceof RuntimeException runtime
          ? runtime : new IllegalStateException("compute range failed", helper);
    }
    if (failure != null) {
      throw failure;
    }
  }

  private void awaitHelpers() {
    long spinUntil = System.nanoTime() + CALLER_SPIN_NANOS;
    while (unfinished.get() != 0 && System.nanoTime() < spinUntil) {
      Thread.onSpinWait();
    }
    boolean interrupted = false;
    // Publish the caller, then check again: the last helper decrements before it reads waitingCaller, so
    // one of the two sees the other's write and no wake-up is lost.
    waitingCaller = Thread.currentThread();
    while (unfinished.get() != 0) {
      LockSupport.park(this);
      interrupted |= Thread.interrupted();
    }
    waitingCaller = null;
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** How many ranges {@link #forRanges} makes of {@code n} items: at most one per thread, each ≥ {@code grain}. */
  public int rangesFor(int n, int grain) {
    return Math.min(threads, Math.max(1, n / Math.max(1, grain)));
  }

  @Override
  public void close() {
    for (Helper helper : helpers) {
      helper.closed = true;
      LockSupport.unpark(helper.thread);
    }
  }

  /** One helper thread and its slot: the range it runs next, published by the volatile {@code hasWork}. */
  private final class Helper implements Runnable {
    private Thread thread;
    private RangeBody body;
    private int range;
    private int from;
    private int to;
    private volatile boolean hasWork;
    private volatile boolean closed;

    void start(RangeBody body, int range, int from, int to) {
      this.body = body;
      this.range = range;
      this.from = from;
      this.to = to;
      hasWork = true;
      LockSupport.unpark(thread);
    }

    @Override
    public void run() {
      while (true) {
        while (!hasWork) {
          if (closed) {
            return;
          }
          LockSupport.park(this);
        }
        try {
          body.run(range, from, to);
        } catch (Throwable e) {
          helperFailure.compareAndSet(null, e);
        }
        body = null;
        hasWork = false;
        if (unfinished.decrementAndGet() == 0) {
          Thread caller = waitingCaller;
          if (caller != null) {
            LockSupport.unpark(caller);
          }
        }
      }
    }
  }
}
