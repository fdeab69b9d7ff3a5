package io.elasticmoe.operator.rendezvous.core;

/** A call fenced by an epoch that is not the committed one: re-read the assignment, then retry. */
public final class StaleEpochException extends MembershipException {
  private final long epoch;
  private final long current;

  public StaleEpochException(long epoch, long current) {
    super("epoch " + epoch + " is stale; the committed epoch is " + current);
    this.epoch = epoch;
    this.current = current;
  }

  public long epoch() {
    return epoch;
  }

  public long current() {
    return current;
  }
}
