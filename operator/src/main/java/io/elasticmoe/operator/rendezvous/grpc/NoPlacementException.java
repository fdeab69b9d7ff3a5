package io.elasticmoe.operator.rendezvous.grpc;

import io.elasticmoe.operator.rendezvous.core.DeploymentKey;

/** No placement was planned yet for the deployment: no epoch committed, or the planner refused (NOT_FOUND). */
public final class NoPlacementException extends RuntimeException {
  public NoPlacementException(DeploymentKey key) {
    super("deployment " + key + " has no placement yet: no epoch has committed with a plannable shape");
  }
}
