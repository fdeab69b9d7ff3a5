package io.elasticmoe.operator.rendezvous.grpc;

/** A request field that is malformed whatever the state (INVALID_ARGUMENT with a field violation). */
public final class InvalidRequestException extends RuntimeException {
  private final String field;

  public InvalidRequestException(String field, String description) {
    super(field + " " + description);
    this.field = field;
  }

  public String field() {
    return field;
  }
}
