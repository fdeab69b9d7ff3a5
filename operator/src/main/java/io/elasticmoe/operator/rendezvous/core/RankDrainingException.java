package io.elasticmoe.operator.rendezvous.core;

/** A join for a rank that is being drained out of the world. */
public final class RankDrainingException extends MembershipException {
  private final int rank;

  public RankDrainingException(int rank) {
    super("rank " + rank + " is draining; it cannot join until the drain ends");
    this.rank = rank;
  }

  public int rank() {
    return rank;
  }
}
