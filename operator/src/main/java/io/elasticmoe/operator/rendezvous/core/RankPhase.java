package io.elasticmoe.operator.rendezvous.core;

/**
 * Where one rank's current pod stands.
 *
 * <ul>
 *   <li>LIVE: joined and heartbeating; a member of the next epoch.
 *   <li>SUSPECTED: heartbeats missed or a peer reported a timeout; stays a member until confirmed.
 *   <li>LOST: suspicion confirmed by the pod watch (NotReady) or the pod is gone; never a member again
 *       under this pod uid.
 *   <li>DRAINING: removed from the plan; a member until it leaves.
 *   <li>LEFT: left cleanly; not a member.
 * </ul>
 */
public enum RankPhase {
  LIVE,
  SUSPECTED,
  LOST,
  DRAINING,
  LEFT
}
