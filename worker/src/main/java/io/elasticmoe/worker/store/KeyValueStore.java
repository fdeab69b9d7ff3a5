package io.elasticmoe.worker.store;

import java.time.Duration;
import java.util.List;

/**
 * The TCPStore-like key/value store a worker sees: how ranks exchange transport metadata (NIXL-EP uses
 * key {@code NIXL_EP/{rank}}) and build barriers. In production it is the operator's rendezvous Store
 * service, scoped to this deployment; tests may use an in-process implementation.
 */
public interface KeyValueStore extends AutoCloseable {

  void set(String key, byte[] value);

  /** Blocks until {@code key} exists or {@code timeout} passes. */
  byte[] get(String key, Duration timeout) throws StoreTimeoutException;

  /**
   * Blocks until every key exists or {@code timeout} passes (one deadline for all keys). Stores with a
   * native multi-key wait override this.
   */
  default void await(List<String> keys, Duration timeout) throws StoreTimeoutException {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (String key : keys) {
      try {
        get(key, Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
      } catch (StoreTimeoutException e) {
        throw new StoreTimeoutException(List.of(key), timeout);
      }
    }
  }

  /** Atomically adds {@code delta} to the counter at {@code key} (0 when missing) and returns the sum. */
  long add(String key, long delta);

  /** Returns whether the key existed. */
  boolean deleteKey(String key);

  /**
   * Blocks until {@code parties} callers have entered the barrier named by {@code counterKey}: each adds
   * one to the counter, the last one publishes {@code counterKey + "/done"}, and everyone waits for it.
   */
  default void barrier(String counterKey, int parties, Duration timeout) throws StoreTimeoutException {
    if (add(counterKey, 1) == parties) {
      set(counterKey + "/done", new byte[0]);
    }
    get(counterKey + "/done", timeout);
  }

  @Override
  void close();
}
