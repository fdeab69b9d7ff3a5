package io.elasticmoe.operator.rendezvous.core;

/** A namespace's byte or waiter quota would be exceeded (RESOURCE_EXHAUSTED). */
public final class KeyValueQuotaException extends KeyValueException {
  private final String namespace;
  private final String resource;
  private final long requested;
  private final long quota;

  public KeyValueQuotaException(String namespace, String resource, long requested, long quota) {
    super(
        "store namespace "
            + namespace
            + " would hold "
            + requested
            + " "
            + resource
            + "; the quota is "
            + quota
            + " (KeyValueLimits)");
    this.namespace = namespace;
    this.resource = resource;
    this.requested = requested;
    this.quota = quota;
  }

  public String namespace() {
    return namespace;
  }

  /** What ran out: {@code bytes} or {@code waiters}. */
  public String resource() {
    return resource;
  }

  public long requested() {
    return requested;
  }

  public long quota() {
    return quota;
  }
}
