package io.elasticmoe.operator.rendezvous.core;

/** What the pod watch says about the pod holding a rank; confirms or clears a suspicion. */
public enum PodCondition {
  READY,
  NOT_READY,
  GONE
}
