package io.elasticmoe.operator.rendezvous.core;

/** A request is malformed or larger than a fixed limit, whatever the store holds (INVALID_ARGUMENT). */
public final class KeyValueLimitException extends KeyValueException {
  private final String field;
  private final long value;
  private final long limit;

  public KeyValueLimitException(String field, long value, long limit, String rule) {
    super(field + " is " + value + "; " + rule + " " + limit);
    this.field = field;
    this.value = value;
    this.limit = limit;
  }

  /** The request field at fault, e.g. {@code key} or {@code value}. */
  public String field() {
    return field;
  }

  public long value() {
    return value;
  }

  public long limit() {
    return limit;
  }
}
