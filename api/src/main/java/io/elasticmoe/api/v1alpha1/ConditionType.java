package io.elasticmoe.api.v1alpha1;

/** The condition types of {@link ElasticMoEDeploymentStatus#conditions}; each is True or False. */
public enum ConditionType {
  /** At least minAvailableRanks ranks serve in a committed epoch. */
  Available,
  /** The operator is moving the deployment towards its spec. */
  Progressing,
  /** A scale up or down is under way. */
  Resizing,
  /** Serving, but with fewer ranks than desired or experts at risk. */
  Degraded,
  /** The deployment cannot be made to serve without a user's action. */
  Failed
}
