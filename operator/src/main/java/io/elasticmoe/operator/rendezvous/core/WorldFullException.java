package io.elasticmoe.operator.rendezvous.core;

/** A rank at or beyond maxRanks: the world's buffers have no room for it. */
public final class WorldFullException extends MembershipException {
  private final int requested;
  private final int max;

  public WorldFullException(int requested, int max) {
    super("rank " + requested + " does not fit the world: ranks are 0.." + (max - 1) + " (maxRanks " + max + ")");
    this.requested = requested;
    this.max = max;
  }

  public int requested() {
    return requested;
  }

  public int max() {
    return max;
  }
}
