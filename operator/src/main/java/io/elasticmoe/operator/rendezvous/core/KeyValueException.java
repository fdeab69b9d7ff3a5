package io.elasticmoe.operator.rendezvous.core;

/**
 * A store operation that cannot be served. Each subclass carries the values it failed on; the gRPC layer
 * ({@code StatusMapper}) and the TCPStore endpoint map subclasses to their own error codes.
 */
public abstract sealed class KeyValueException extends RuntimeException
    permits KeyValueLimitException,
        KeyValueQuotaException,
        KeyValueTimeoutException,
        KeyValueMissingKeyException,
        KeyValueCounterException,
        KeyValueClosedException {

  KeyValueException(String message) {
    super(message);
  }
}
