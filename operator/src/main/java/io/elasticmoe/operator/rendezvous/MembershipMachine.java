package io.elasticmoe.operator.rendezvous;

import io.elasticmoe.operator.rendezvous.core.CommittedState;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.MembershipDecision;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent;
import io.elasticmoe.operator.rendezvous.core.MembershipRules;
import io.elasticmoe.operator.rendezvous.core.MembershipState;
import io.elasticmoe.operator.rendezvous.core.RankAssignment;
import io.elasticmoe.operator.rendezvous.core.NotRankHolderException;
import io.elasticmoe.operator.rendezvous.core.RankDirective;
import io.elasticmoe.operator.rendezvous.core.RankRecord;
import io.elasticmoe.operator.rendezvous.grpc.RendezvousUnavailableException;
import io.elasticmoe.operator.rendezvous.persist.CommittedStateStore;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * Sequences one deployment's membership: feeds each event with a clock value to {@link
 * MembershipRules}, persists a commit through {@link CommittedStateStore} <em>before</em> adopting it,
 * then pushes changed assignments to watchers and tells listeners (the placement channel) about the
 * commit. Events are applied one at a time (this object's monitor), so every decision sees the state
 * the previous one produced. A failed save leaves the old state in place and is retried on the next
 * tick; nothing is announced that is not durable.
 */
public final class MembershipMachine {
  private static final Logger LOG = Logger.getLogger(MembershipMachine.class);
  /** Retry period for a commit whose save failed. */
  private static final Duration SAVE_RETRY = Duration.ofSeconds(1);

  private final DeploymentKey key;
  private final Clock clock;
  private final CommittedStateStore store;
  private final ScheduledExecutorService timers;
  private final Consumer<CommittedState> onCommit;
  private final List<Watcher> watchers = new ArrayList<>();
  private MembershipState state;
  private ScheduledFuture<?> nextTick;
  private boolean closed;

  /** A watcher of one rank's assignment; {@code sink} must not block. */
  public interface AssignmentSink {
    void send(RankAssignment assignment);

    /** The stream ends: the rank was told to EXIT or the deployment is gone. */
    void end();
  }

  private static final class Watcher {
    final int rank;
    final String podUid;
    final AssignmentSink sink;
    RankAssignment lastSent;

    Watcher(int rank, String podUid, AssignmentSink sink) {
      this.rank = rank;
      this.podUid = podUid;
      this.sink = sink;
    }
  }

  public MembershipMachine(
      DeploymentKey key,
      MembershipState initial,
      Clock clock,
      CommittedStateStore store,
      ScheduledExecutorService timers,
      Consumer<CommittedState> onCommit) {
    this.key = key;
    this.state = initial;
    this.clock = clock;
    this.store = store;
    this.timers = timers;
    this.onCommit = onCommit;
  }

  public synchronized MembershipState state() {
    return state;
  }

  /** Applies one event; rule violations propagate as {@code MembershipException} and change nothing. */
  public synchronized MembershipState apply(MembershipEvent event) {
    ensureServed();
    adopt(MembershipRules.apply(state, event, clock.instant()));
    return state;
  }

  /**
   * Commits the next placement version for {@code epoch} (a load-driven re-plan): persisted, then the
   * placement channel plans for it, then assignments naming it go out. Returns false when the committed
   * epoch or version moved on since the re-plan was decided. Throws {@link RendezvousUnavailableException}
   * when the version could not be persisted (nothing is announced).
   */
  public synchronized boolean revisePlacement(long epoch, long basedOnVersion) {
    ensureServed();
    MembershipDecision decision = MembershipRules.revisePlacement(state, epoch, basedOnVersion);
    adopt(decision);
    return decision.commit().isPresent();
  }

  private void ensureServed() {
    if (closed) {
      throw new RendezvousUnavailableException("deployment " + key + " is no longer served", null);
    }
  }

  private void adopt(MembershipDecision decision) {
    if (decision.commit().isPresent()) {
      CommittedState commit = decision.commit().get();
      try {
        store.save(key, commit);
      } catch (RuntimeException e) {
        LOG.warnf(e, "%s epoch=%d: could not persist the commit; not announcing it", key, commit.epoch());
        schedule(clock.instant().plus(SAVE_RETRY));
        // A load-driven revision keeps the epoch; name the version it failed to persist.
        String what = commit.epoch() == state.epoch()
            ? "epoch " + commit.epoch() + " placement version " + commit.placementVersion()
            : "epoch " + commit.epoch();
        throw new RendezvousUnavailableException(
            "deployment " + key + ": " + what + " could not be persisted: " + e.getMessage(), e);
      }
      LOG.infof("%s epoch=%d placementVersion=%d committed ranks %s", key, commit.epoch(), commit.placementVersion(),
          commit.activeRanks());
    }
    state = decision.next();
    // The placement for the new epoch or version is planned before assignments naming its version go out.
    decision.commit().ifPresent(onCommit);
    publish();
    MembershipRules.nextDeadline(state).ifPresent(this::schedule);
  }

  /**
   * Registers a watcher and sends it the current assignment, if the rank has one. Only the pod that
   * holds the rank may watch it, so that a later change of holder means this pod was replaced (EXIT).
   */
  public synchronized Runnable watch(int rank, String podUid, AssignmentSink sink) {
    RankRecord holder = state.ranks().get(rank);
    if (holder == null || !holder.podUid().equals(podUid)) {
      throw new NotRankHolderException(rank, podUid, holder == null ? null : holder.podUid());
    }
    Watcher w = new Watcher(rank, podUid, sink);
    watchers.add(w);
    publishTo(w);
    return () -> unwatch(w);
  }

  public synchronized int watcherCount() {
    return watchers.size();
  }

  /** Ends every watch stream; later events are refused. */
  public synchronized void close() {
    closed = true;
    if (nextTick != null) {
      nextTick.cancel(false);
    }
    List<Watcher> all = new ArrayList<>(watchers);
    watchers.clear();
    all.forEach(w -> w.sink.end());
  }

  private synchronized void unwatch(Watcher w) {
    watchers.remove(w);
  }

  private void publish() {
    for (Watcher w : new ArrayList<>(watchers)) {
      publishTo(w);
    }
  }

  private void publishTo(Watcher w) {
    Optional<RankAssignment> a = MembershipRules.assignmentFor(state, w.rank, w.podUid);
    if (a.isEmpty() || a.get().equals(w.lastSent)) {
      return;
    }
    w.lastSent = a.get();
    w.sink.send(a.get());
    if (a.get().directive() == RankDirective.EXIT) {
      watchers.remove(w);
      w.sink.end();
    }
  }

  private void schedule(Instant at) {
    if (closed) {
      return;
    }
    if (nextTick != null) {
      nextTick.cancel(false);
    }
    long delayNanos = Math.max(0, Duration.between(clock.instant(), at).toNanos());
    nextTick = timers.schedule(this::tick, delayNanos, TimeUnit.NANOSECONDS);
  }

  private void tick() {
    try {
      apply(new MembershipEvent.Tick());
    } catch (RuntimeException e) {
      LOG.debugf(e, "%s: tick did not apply", key);
    }
  }
}
