package io.elasticmoe.operator.rendezvous.core;

/** A call for a rank from a pod that does not hold it (never joined, or replaced by a newer pod). */
public final class NotRankHolderException extends MembershipException {
  private final int rank;
  private final String podUid;

  public NotRankHolderException(int rank, String podUid, String holderUid) {
    super(
        "pod "
            + podUid
            + " does not hold rank "
            + rank
            + (holderUid == null ? "; the rank has not joined" : "; pod " + holderUid + " does"));
    this.rank = rank;
    this.podUid = podUid;
  }

  public int rank() {
    return rank;
  }

  public String podUid() {
    return podUid;
  }
}
