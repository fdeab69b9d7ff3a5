package io.elasticmoe.operator.rendezvous.grpc;

/**
 * The rendezvous cannot serve the call right now: the deployment is not (yet) registered with this
 * operator, or the committed state could not be persisted. Clients retry the same call (UNAVAILABLE).
 */
public final class RendezvousUnavailableException extends RuntimeException {
  public RendezvousUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
