package io.elasticmoe.worker.store;

import java.time.Duration;
import java.util.List;

/** A blocking store call ran past its deadline; carries what it waited for. */
public final class StoreTimeoutException extends Exception {
  private final List<String> keys;
  private final Duration timeout;

  public StoreTimeoutException(List<String> keys, Duration timeout) {
    super("store keys " + keys + " did not appear within " + timeout.toMillis() + " ms");
    this.keys = List.copyOf(keys);
    this.timeout = timeout;
  }

  public List<String> keys() {
    return keys;
  }

  public Duration timeout() {
    return timeout;
  }
}
