package io.elasticmoe.operator.rendezvous.core;

import java.util.Optional;

/**
 * The outcome of one event. When {@code commit} is present, {@code next.committed()} equals it and it
 * must be persisted before {@code next} is adopted or announced.
 */
public record MembershipDecision(MembershipState next, Optional<CommittedState> commit) {

  static MembershipDecision noCommit(MembershipState next) {
    return new MembershipDecision(next, Optional.empty());
  }
}
