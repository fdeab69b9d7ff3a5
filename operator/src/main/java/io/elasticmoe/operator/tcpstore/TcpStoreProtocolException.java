package io.elasticmoe.operator.tcpstore;

/**
 * Bytes that are not a TCPStore query this endpoint serves. The protocol has no error reply, so the
 * connection that sent them is closed; the message names the offending value and the limit.
 */
public final class TcpStoreProtocolException extends Exception {
  public TcpStoreProtocolException(String message) {
    super(message);
  }
}
