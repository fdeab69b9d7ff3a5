package io.elasticmoe.operator.rendezvous.core;

import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Heartbeat;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Join;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Leave;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.PeerFailure;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.PodState;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Replan;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent.Tick;
import java.time.Instant;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Membership as pure operations: (state, event, clock value) → decision. No I/O, no clock, no threads.
 *
 * <p>Per rank, the holding pod moves LIVE ⇄ SUSPECTED → LOST, LIVE → DRAINING → LEFT (see {@link
 * RankPhase}). After every event, {@link #settle} decides whether a new epoch commits. The target
 * membership is every planned LIVE rank plus the committed members still SUSPECTED or DRAINING (they
 * keep serving until confirmed lost or gone). It commits:
 *
 * <ol>
 *   <li>at once when every planned rank is in it (scale-up done, a replacement rejoined);
 *   <li>at once when it only removes members (a rank lost or left), so survivors mask it quickly;
 *   <li>otherwise at the last-call deadline (joinTimeout after the change appeared);
 * </ol>
 *
 * and never with fewer than minAvailableRanks (the old epoch then stays committed).
 *
 * <p>Invariants (property-tested): a rank is held by one pod and a pod holds one rank; epochs strictly
 * increase; a commit has at least minAvailableRanks members and no LOST member; a survivor keeps its
 * rank; a drained rank's leave removes only that rank.
 */
public final class MembershipRules {

  private MembershipRules() {}

  public static MembershipDecision apply(MembershipState state, MembershipEvent event, Instant now) {
    MembershipState next =
        switch (event) {
          case Join join -> join(state, join, now);
          case Heartbeat hb -> heartbeat(state, hb, now);
          case Leave leave -> leave(state, leave);
          case PeerFailure failure -> peerFailure(state, failure);
          case PodState pod -> podState(state, pod);
          case Tick tick -> expireHeartbeats(state, now);
          case Replan replan -> replan(state, replan.config());
        };
    return settle(next, now);
  }

  static MembershipState join(MembershipState state, Join join, Instant now) {
    MembershipConfig config = state.config();
    if (join.rank() >= config.maxRanks()) {
      throw new WorldFullException(join.rank(), config.maxRanks());
    }
    for (RankRecord other : state.ranks().values()) {
      boolean holds = other.phase() != RankPhase.LOST && other.phase() != RankPhase.LEFT;
      if (holds && other.podUid().equals(join.podUid()) && other.rank() != join.rank()) {
        throw new PodUidInUseException(join.podUid(), other.rank(), join.rank());
      }
    }
    RankRecord current = state.ranks().get(join.rank());
    boolean planned = config.plannedRanks().contains(join.rank());
    if (current != null && current.podUid().equals(join.podUid())) {
      return state.with(put(state, reattach(current, planned, now)));
    }
    if (current != null && current.phase() == RankPhase.DRAINING) {
      throw new RankDrainingException(join.rank());
    }
    if (!planned) {
      throw new RankNotPlannedException(join.rank(), config.plannedRanks());
    }
    // A new pod for the rank (first join or a replacement) fences the previous holder out.
    RankRecord fresh =
        new RankRecord(
            join.rank(), join.podUid(), join.podName(), join.nodeName(), now, RankPhase.LIVE, PodCondition.READY);
    return state.with(put(state, fresh));
  }

  /** The same pod joins again: a reconnect, a container restart or a new operator leader. */
  private static RankRecord reattach(RankRecord current, boolean planned, Instant now) {
    RankRecord refreshed = current.withHeartbeat(now);
    return switch (current.phase()) {
      case LIVE, SUSPECTED -> refreshed.withPhase(RankPhase.LIVE);
      // A lost pod whose pod still exists may serve again; a deleted one cannot be calling.
      case LOST ->
          current.podCondition() == PodCondition.GONE
              ? current
              : refreshed.withPhase(RankPhase.LIVE).withPodCondition(PodCondition.READY);
      case LEFT -> planned ? refreshed.withPhase(RankPhase.LIVE) : current;
      case DRAINING -> refreshed;
    };
  }

  static MembershipState heartbeat(MembershipState state, Heartbeat hb, Instant now) {
    RankRecord current = holder(state, hb.rank(), hb.podUid());
    RankRecord next = current.withHeartbeat(now);
    if (current.phase() == RankPhase.SUSPECTED) {
      next = next.withPhase(RankPhase.LIVE);
    }
    return state.with(put(state, next));
  }

  static MembershipState leave(MembershipState state, Leave leave) {
    fence(state, leave.epoch());
    RankRecord current = holder(state, leave.rank(), leave.podUid());
    return state.with(put(state, current.withPhase(RankPhase.LEFT)));
  }

  static MembershipState peerFailure(MembershipState state, PeerFailure failure) {
    fence(state, failure.epoch());
    holder(state, failure.rank(), failure.podUid());
    RankRecord suspect = state.ranks().get(failure.failedRank());
    if (suspect == null || suspect.phase() != RankPhase.LIVE) {
      return state;
    }
    return state.with(put(state, suspect(suspect)));
  }

  static MembershipState podState(MembershipState state, PodState pod) {
    RankRecord current = state.ranks().get(pod.rank());
    if (current == null || !current.podUid().equals(pod.podUid())) {
      // An event about an older pod of the rank says nothing about the current holder.
      return state;
    }
    RankRecord next = current.withPodCondition(pod.condition());
    next =
        switch (pod.condition()) {
          case GONE ->
              switch (current.phase()) {
                case DRAINING, LEFT -> next.withPhase(RankPhase.LEFT);
                default -> next.withPhase(RankPhase.LOST);
              };
          case NOT_READY ->
              current.phase() == RankPhase.SUSPECTED ? next.withPhase(RankPhase.LOST) : next;
          case READY -> next;
        };
    return state.with(put(state, next));
  }

  static MembershipState expireHeartbeats(MembershipState state, Instant now) {
    SortedMap<Integer, RankRecord> ranks = new TreeMap<>(state.ranks());
    for (RankRecord r : state.ranks().values()) {
      boolean watched = r.phase() == RankPhase.LIVE || r.phase() == RankPhase.DRAINING;
      if (watched && !now.isBefore(r.lastHeartbeat().plus(state.config().heartbeatTimeout()))) {
        ranks.put(r.rank(), r.phase() == RankPhase.DRAINING ? r : suspect(r));
      }
    }
    return state.with(ranks);
  }

  static MembershipState replan(MembershipState state, MembershipConfig config) {
    SortedMap<Integer, RankRecord> ranks = new TreeMap<>();
    for (RankRecord r : state.ranks().values()) {
      boolean planned = config.plannedRanks().contains(r.rank());
      boolean member = isMember(state, r);
      RankRecord next = r;
      if (!planned && (r.phase() == RankPhase.LIVE || r.phase() == RankPhase.SUSPECTED)) {
        // Members drain so in-flight traffic finishes; a joined non-member has nothing to drain.
        next = r.withPhase(member ? RankPhase.DRAINING : RankPhase.LEFT);
      } else if (planned && r.phase() == RankPhase.DRAINING) {
        next = r.withPhase(RankPhase.LIVE);
      }
      ranks.put(r.rank(), next);
    }
    return new MembershipState(config, state.committed(), ranks, state.lastCallDeadline());
  }

  /** Decides whether the membership reached by an event commits as a new epoch. */
  static MembershipDecision settle(MembershipState state, Instant now) {
    MembershipConfig config = state.config();
    SortedMap<Integer, CommittedMember> target = new TreeMap<>();
    for (RankRecord r : state.ranks().values()) {
      boolean livePlanned = r.phase() == RankPhase.LIVE && config.plannedRanks().contains(r.rank());
      boolean keptMember =
          isMember(state, r) && (r.phase() == RankPhase.SUSPECTED || r.phase() == RankPhase.DRAINING);
      if (livePlanned || keptMember) {
        target.put(r.rank(), new CommittedMember(r.rank(), r.podUid(), r.podName(), r.nodeName()));
      }
    }
    SortedMap<Integer, CommittedMember> members = state.committed().members();
    if (target.equals(members) || target.size() < config.minAvailableRanks()) {
      return MembershipDecision.noCommit(withDeadline(state, Optional.empty()));
    }
    boolean allPlanned = target.keySet().containsAll(config.plannedRanks());
    boolean removalOnly = members.entrySet().containsAll(target.entrySet());
    Instant deadline = state.lastCallDeadline().orElse(now.plus(config.joinTimeout()));
    if (!allPlanned && !removalOnly && now.isBefore(deadline)) {
      return MembershipDecision.noCommit(withDeadline(state, Optional.of(deadline)));
    }
    CommittedState commit =
        new CommittedState(state.epoch() + 1, target, state.committed().placementVersion() + 1);
    return new MembershipDecision(
        new MembershipState(config, commit, state.ranks(), Optional.empty()), Optional.of(commit));
  }

  /**
   * A load-driven re-plan inside the committed epoch: the same members under the next placement
   * version, to be persisted like any commit. The epoch does not change (nobody joined or left). When
   * the committed epoch or version is no longer the one the re-plan was decided on (a membership commit
   * came first and re-planned anyway), nothing commits.
   */
  public static MembershipDecision revisePlacement(MembershipState state, long epoch, long basedOnVersion) {
    CommittedState c = state.committed();
    if (c.epoch() == 0 || c.epoch() != epoch || c.placementVersion() != basedOnVersion) {
      return MembershipDecision.noCommit(state);
    }
    CommittedState revised = new CommittedState(c.epoch(), c.members(), c.placementVersion() + 1);
    return new MembershipDecision(
        new MembershipState(state.config(), revised, state.ranks(), state.lastCallDeadline()),
        Optional.of(revised));
  }

  /** The assignment the pod {@code podUid} of {@code rank} should see now; empty while it waits. */
  public static Optional<RankAssignment> assignmentFor(MembershipState state, int rank, String podUid) {
    RankRecord r = state.ranks().get(rank);
    if (r == null) {
      return Optional.empty();
    }
    CommittedState c = state.committed();
    if (!r.podUid().equals(podUid)) {
      return Optional.of(assignment(state, rank, RankDirective.EXIT));
    }
    boolean member = isMember(state, r);
    RankDirective directive =
        switch (r.phase()) {
          case LIVE, SUSPECTED -> member ? RankDirective.RUN : null;
          case DRAINING -> member ? RankDirective.DRAIN : RankDirective.EXIT;
          case LOST -> RankDirective.REJOIN;
          case LEFT -> RankDirective.EXIT;
        };
    if (directive == null || c.epoch() == 0 && directive != RankDirective.EXIT) {
      return Optional.empty();
    }
    return Optional.of(assignment(state, rank, directive));
  }

  /** When {@link MembershipEvent.Tick} next changes something: a heartbeat expiry or the last call. */
  public static Optional<Instant> nextDeadline(MembershipState state) {
    Optional<Instant> earliest = state.lastCallDeadline();
    for (RankRecord r : state.ranks().values()) {
      if (r.phase() == RankPhase.LIVE) {
        Instant expiry = r.lastHeartbeat().plus(state.config().heartbeatTimeout());
        if (earliest.isEmpty() || expiry.isBefore(earliest.get())) {
          earliest = Optional.of(expiry);
        }
      }
    }
    return earliest;
  }

  private static RankAssignment assignment(MembershipState state, int rank, RankDirective directive) {
    CommittedState c = state.committed();
    return new RankAssignment(
        c.epoch(), rank, c.activeRanks(), state.config().maxRanks(), c.placementVersion(), directive);
  }

  private static RankRecord suspect(RankRecord r) {
    // A pod the watch already saw NotReady or gone needs no further confirmation.
    boolean confirmed = r.podCondition() != PodCondition.READY;
    return r.withPhase(confirmed ? RankPhase.LOST : RankPhase.SUSPECTED);
  }

  private static boolean isMember(MembershipState state, RankRecord r) {
    CommittedMember m = state.committed().members().get(r.rank());
    return m != null && m.podUid().equals(r.podUid());
  }

  private static void fence(MembershipState state, long epoch) {
    if (epoch != state.epoch()) {
      throw new StaleEpochException(epoch, state.epoch());
    }
  }

  private static RankRecord holder(MembershipState state, int rank, String podUid) {
    RankRecord r = state.ranks().get(rank);
    if (r == null || !r.podUid().equals(podUid)) {
      throw new NotRankHolderException(rank, podUid, r == null ? null : r.podUid());
    }
    return r;
  }

  private static SortedMap<Integer, RankRecord> put(MembershipState state, RankRecord r) {
    SortedMap<Integer, RankRecord> ranks = new TreeMap<>(state.ranks());
    ranks.put(r.rank(), r);
    return ranks;
  }

  private static MembershipState withDeadline(MembershipState state, Optional<Instant> deadline) {
    return new MembershipState(state.config(), state.committed(), state.ranks(), deadline);
  }
}
