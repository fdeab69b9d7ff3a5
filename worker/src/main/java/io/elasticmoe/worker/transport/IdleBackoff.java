package io.elasticmoe.worker.transport;

import java.util.concurrent.locks.LockSupport;

/**
 * How a rank waits for a peer: yield for the first 100 µs (the common case on an idle core), then park
 * for growing intervals of up to 1 ms. Ranks often outnumber cores (CI runs 8 rank JVMs on 2), and a
 * rank that keeps spinning starves the very peer it waits for; measured: with 8 spinning ranks at load
 * 20, live peers went silent past a 5 s timeout (docs/benchmarks/dataplane.md).
 */
public final class IdleBackoff {

  private static final long SPIN_NANOS = 100_000;
  private static final long MAX_PARK_NANOS = 1_000_000;

  private final long startNanos = System.nanoTime();
  private long parkNanos = 10_000;

  public void idle() {
    if (System.nanoTime() - startNanos < SPIN_NANOS) {
      Thread.yield();
      return;
    }
    LockSupport.parkNanos(parkNanos);
    parkNanos = Math.min(MAX_PARK_NANOS, parkNanos * 2);
  }
}
