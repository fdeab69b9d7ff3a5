package io.elasticmoe.operator.rendezvous.core;

/** A non-blocking read of a key that does not exist (NOT_FOUND). */
public final class KeyValueMissingKeyException extends KeyValueException {
  private final String key;

  public KeyValueMissingKeyException(String namespace, String key) {
    super("store key '" + key + "' does not exist in namespace " + namespace);
    this.key = key;
  }

  public String key() {
    return key;
  }
}
