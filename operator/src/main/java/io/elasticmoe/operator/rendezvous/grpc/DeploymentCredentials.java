package io.elasticmoe.operator.rendezvous.grpc;

import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import java.util.Optional;

/** Which deployment a credential belongs to. Credentials are compared by SHA-256, never stored raw. */
public interface DeploymentCredentials {

  /** @param credentialSha256 lower-case hex SHA-256 of the bearer token */
  Optional<DeploymentKey> ownerOf(String credentialSha256);

  /**
   * True while the operator has just started and may not have registered every deployment yet: an
   * unknown credential is then UNAVAILABLE (retry) rather than UNAUTHENTICATED, so workers ride out
   * an operator restart or a leader change.
   */
  boolean registering();
}
