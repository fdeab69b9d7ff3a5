package io.elasticmoe.operator.rendezvous.core;

/**
 * {@code add} on a value that is not a decimal 64-bit counter, or a sum that overflows it
 * (FAILED_PRECONDITION: the key holds something else until it is deleted or overwritten).
 */
public final class KeyValueCounterException extends KeyValueException {
  private final String key;

  public KeyValueCounterException(String key, String reason) {
    super("store key '" + key + "' " + reason);
    this.key = key;
  }

  public String key() {
    return key;
  }
}
