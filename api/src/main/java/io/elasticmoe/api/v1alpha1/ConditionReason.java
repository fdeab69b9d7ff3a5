package io.elasticmoe.api.v1alpha1;

/** Every reason a condition may carry: CamelCase words of the API, never Java class names. */
public enum ConditionReason {
  Reconciled,
  InvalidSpec,
  RanksStarting,
  RanksReady,
  ScalingUp,
  ScalingDown,
  ScaleDownBlocked,
  RankLost,
  ExpertsAtRisk,
  RendezvousUnavailable,
  TooManyRecoveries
}
