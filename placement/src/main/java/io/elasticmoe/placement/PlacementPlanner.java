package io.elasticmoe.placement;

/** Computes where replicas of logical experts live. Implementations are pure: no I/O, no clock. */
public interface PlacementPlanner {

  /**
   * @throws IllegalArgumentException naming the field, the value and the rule when the request is
   *     invalid
   */
  ExpertPlacement plan(PlacementRequest request);
}
