package io.elasticmoe.operator.rendezvous.core;

import java.util.Set;

/** A join for a rank the reconciler has not planned (e.g. a pod left over from before a scale-down). */
public final class RankNotPlannedException extends MembershipException {
  private final int rank;

  public RankNotPlannedException(int rank, Set<Integer> planned) {
    super("rank " + rank + " is not planned; planned ranks are " + planned);
    this.rank = rank;
  }

  public int rank() {
    return rank;
  }
}
