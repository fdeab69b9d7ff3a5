package io.elasticmoe.operator.rendezvous.core;

/** One pod tried to hold two ranks: ranks are sticky, a pod keeps the rank it joined with. */
public final class PodUidInUseException extends MembershipException {
  public PodUidInUseException(String podUid, int heldRank, int requestedRank) {
    super("pod " + podUid + " holds rank " + heldRank + "; it cannot join as rank " + requestedRank);
  }
}
