package io.elasticmoe.operator.rendezvous.core;

/** What a rank is told to do (mirrors the proto's Directive). */
public enum RankDirective {
  /** Serve as a member of the epoch. */
  RUN,
  /** Finish in-flight work, disconnect, then Leave. */
  DRAIN,
  /** Not a member (declared lost): join again. */
  REJOIN,
  /** Removed from the plan, or a newer pod holds the rank: stop. */
  EXIT
}
