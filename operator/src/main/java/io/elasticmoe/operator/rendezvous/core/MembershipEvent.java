package io.elasticmoe.operator.rendezvous.core;

/** Inputs of {@link MembershipRules}: worker calls, pod-watch observations, the clock and the plan. */
public sealed interface MembershipEvent {

  /** A pod announces itself as the holder of {@code rank}. */
  record Join(int rank, String podUid, String podName, String nodeName) implements MembershipEvent {}

  record Heartbeat(int rank, String podUid) implements MembershipEvent {}

  /** A clean exit of the caller's rank, fenced by {@code epoch}. */
  record Leave(int rank, String podUid, long epoch) implements MembershipEvent {}

  /** The caller ({@code rank}) saw {@code failedRank} time out, fenced by {@code epoch}. */
  record PeerFailure(int rank, String podUid, long epoch, int failedRank) implements MembershipEvent {}

  /** The pod watch saw the pod {@code podUid} of {@code rank} in {@code condition}. */
  record PodState(int rank, String podUid, PodCondition condition) implements MembershipEvent {}

  /** Time passed: heartbeat expiry and the last-call deadline are checked. */
  record Tick() implements MembershipEvent {}

  /** The reconciler changed the plan (scale up/down, timing). */
  record Replan(MembershipConfig config) implements MembershipEvent {}
}
