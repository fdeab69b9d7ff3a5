package io.elasticmoe.operator.rendezvous.core;

/** A membership call that the current state refuses; subclasses carry the values (StatusMapper maps them). */
public abstract sealed class MembershipException extends RuntimeException
    permits StaleEpochException,
        WorldFullException,
        RankNotPlannedException,
        RankDrainingException,
        NotRankHolderException,
        PodUidInUseException {

  MembershipException(String message) {
    super(message);
  }
}
