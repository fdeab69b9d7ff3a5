package io.elasticmoe.operator.rendezvous.core;

import java.time.Duration;
import java.util.List;

/** A blocking get or wait ran past its deadline before its keys existed (DEADLINE_EXCEEDED). */
public final class KeyValueTimeoutException extends KeyValueException {
  private final List<String> keys;
  private final Duration timeout;

  public KeyValueTimeoutException(List<String> keys, Duration timeout) {
    super("store keys " + keys + " did not all exist within " + timeout.toMillis() + " ms");
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
