package io.elasticmoe.operator.rendezvous;

import io.elasticmoe.operator.rendezvous.core.DeploymentKey;

/**
 * Where a load-driven re-plan is reported to humans (a Kubernetes event on the deployment in the
 * operator; nothing in the standalone server). Called off the gRPC and lock paths; must not throw.
 */
public interface RebalanceEvents {

  RebalanceEvents NONE = (key, reason, message) -> {};

  /**
   * @param reason the policy's rule, e.g. {@code ImbalanceAboveThreshold}
   * @param message the new version, the epoch and the values the rule compared
   */
  void loadDrivenReplan(DeploymentKey key, String reason, String message);
}
