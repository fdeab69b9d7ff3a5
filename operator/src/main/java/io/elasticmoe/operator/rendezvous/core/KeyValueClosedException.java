package io.elasticmoe.operator.rendezvous.core;

/** The namespace was closed (its deployment removed) while a waiter was pending. */
public final class KeyValueClosedException extends KeyValueException {
  private final String namespace;

  public KeyValueClosedException(String namespace) {
    super("store namespace " + namespace + " was closed while the call waited");
    this.namespace = namespace;
  }

  public String namespace() {
    return namespace;
  }
}
