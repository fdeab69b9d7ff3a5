package io.elasticmoe.operator.rendezvous.core;

import java.time.Instant;

/**
 * The pod currently holding a rank and what the operator knows of it.
 *
 * @param podUid fences an older pod of the same rank
 * @param podName for status.ranks[].pod
 * @param nodeName for status.ranks[].node and failure domains
 * @param lastHeartbeat time of the last Join or Heartbeat, from the machine's clock
 * @param podCondition the latest pod-watch observation of this pod
 */
public record RankRecord(
    int rank,
    String podUid,
    String podName,
    String nodeName,
    Instant lastHeartbeat,
    RankPhase phase,
    PodCondition podCondition) {

  RankRecord withPhase(RankPhase next) {
    return new RankRecord(rank, podUid, podName, nodeName, lastHeartbeat, next, podCondition);
  }

  RankRecord withHeartbeat(Instant at) {
    return new RankRecord(rank, podUid, podName, nodeName, at, phase, podCondition);
  }

  RankRecord withPodCondition(PodCondition condition) {
    return new RankRecord(rank, podUid, podName, nodeName, lastHeartbeat, phase, condition);
  }
}
