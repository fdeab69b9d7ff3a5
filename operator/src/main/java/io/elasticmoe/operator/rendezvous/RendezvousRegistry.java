package io.elasticmoe.operator.rendezvous;

import io.elasticmoe.operator.rendezvous.core.CommittedState;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.elasticmoe.operator.rendezvous.core.MembershipConfig;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent;
import io.elasticmoe.operator.rendezvous.core.MembershipState;
import io.elasticmoe.operator.rendezvous.core.PodCondition;
import io.elasticmoe.operator.rendezvous.grpc.DeploymentCredentials;
import io.elasticmoe.operator.rendezvous.grpc.RendezvousUnavailableException;
import io.elasticmoe.operator.rendezvous.persist.CommittedStateStore;
import io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement;
import io.elasticmoe.api.rendezvous.v1alpha1.LoadReport;
import io.elasticmoe.placement.PlacementPlanner;
import io.elasticmoe.placement.RebalancePolicy;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Meter;
import java.time.Clock;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import org.jboss.logging.Logger;

/**
 * The facade the reconciler drives: one {@link MembershipMachine}, {@link PlacementChannel} and store
 * namespace per deployment, and the credential table the auth interceptor reads.
 *
 * <p>On {@link #upsert} of a deployment it does not serve yet, it resumes from the persisted committed
 * state when there is one (a restarted operator or a new leader), so connected workers re-attach to the
 * same epoch; otherwise it starts at epoch 0.
 *
 * <p>Load reports go through {@link #reportLoad}: when the deployment's placement channel decides on a
 * load-driven re-plan, the registry commits it on the timer thread (the persist is an API-server write,
 * not for a gRPC thread), through the membership machine so that the new placement version is persisted
 * before it is announced, and counts and reports it (metrics, a Kubernetes event).
 */
public final class RendezvousRegistry implements DeploymentCredentials {
  private static final Logger LOG = Logger.getLogger(RendezvousRegistry.class);
  /** Reasons a placement is published for; each has a counter per deployment. */
  private static final List<RebalancePolicy.Reason> REPLAN_REASONS = List.of(
      RebalancePolicy.Reason.MembershipChanged,
      RebalancePolicy.Reason.ImbalanceAboveThreshold,
      RebalancePolicy.Reason.ImbalanceFarAboveThreshold);

  private final KeyValueCore store;
  private final CommittedStateStore committedStore;
  private final Clock clock;
  private final ScheduledExecutorService timers;
  private final PlacementPlanner planner;
  private final MeterRegistry meters;
  private final RebalanceEvents rebalanceEvents;
  private final java.time.Instant registeringUntil;
  private final ConcurrentHashMap<DeploymentKey, Deployment> deployments = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, DeploymentKey> owners = new ConcurrentHashMap<>();

  private final ConcurrentHashMap<DeploymentKey, CommittedState> pendingResumes = new ConcurrentHashMap<>();

  private record Deployment(
      MembershipMachine membership, PlacementChannel placement, RendezvousSpec spec, List<Meter> meters) {
    String credentialSha256() {
      return spec.credentialSha256();
    }
  }

  public RendezvousRegistry(
      KeyValueCore store,
      CommittedStateStore committedStore,
      Clock clock,
      ScheduledExecutorService timers,
      PlacementPlanner planner,
      MeterRegistry meters,
      RebalanceEvents rebalanceEvents,
      java.time.Duration startupGrace) {
    this.registeringUntil = clock.instant().plus(startupGrace);
    this.store = store;
    this.committedStore = committedStore;
    this.clock = clock;
    this.timers = timers;
    this.planner = planner;
    this.meters = meters;
    this.rebalanceEvents = rebalanceEvents;
  }

  public synchronized void upsert(DeploymentKey key, RendezvousSpec spec) {
    MembershipConfig config = membershipConfig(spec);
    Deployment existing = deployments.get(key);
    if (existing == null) {
      Optional<CommittedState> persisted =
          Optional.ofNullable(pendingResumes.remove(key)).or(() -> committedStore.load(key));
      MembershipState initial =
          persisted
              .map(c -> MembershipState.resumed(config, c, clock.instant()))
              .orElseGet(() -> MembershipState.initial(config));
      start(key, spec, initial);
      return;
    }
    if (!existing.credentialSha256().equals(spec.credentialSha256())) {
      owners.remove(existing.credentialSha256());
      owners.put(spec.credentialSha256(), key);
    }
    deployments.put(key, new Deployment(existing.membership(), existing.placement(), spec, existing.meters()));
    existing.placement().reconfigure(spec.placement(), spec.maxRanks());
    if (!existing.membership().state().config().equals(config)) {
      existing.membership().apply(new MembershipEvent.Replan(config));
    }
  }

  /**
   * Failover: serve {@code key} from a committed state read from the CR status (a new leader), keeping
   * its epoch. A deployment not served yet resumes from it at its first {@link #upsert}; a served one
   * is restarted from it.
   */
  public synchronized void resume(DeploymentKey key, CommittedState fromStatus) {
    Deployment d = deployments.get(key);
    if (d == null) {
      pendingResumes.put(key, fromStatus);
      return;
    }
    stop(key);
    start(key, d.spec(), MembershipState.resumed(membershipConfig(d.spec()), fromStatus, clock.instant()));
  }

  public synchronized void remove(DeploymentKey key) {
    pendingResumes.remove(key);
    stop(key);
    store.closeNamespace(key.toString());
  }

  /** The pod watch's view of a rank's pod: confirms (NotReady, gone) or clears suspicion. */
  public void onPodState(DeploymentKey key, int rank, String podUid, PodCondition condition) {
    Deployment d = deployments.get(key);
    if (d != null) {
      d.membership().apply(new MembershipEvent.PodState(rank, podUid, condition));
    }
  }

  public Optional<CommittedState> committed(DeploymentKey key) {
    Deployment d = deployments.get(key);
    return d == null ? Optional.empty() : Optional.of(d.membership().state().committed());
  }

  public Optional<MembershipState> membershipState(DeploymentKey key) {
    Deployment d = deployments.get(key);
    return d == null ? Optional.empty() : Optional.of(d.membership().state());
  }

  public MembershipMachine membership(DeploymentKey key) {
    return served(key).membership();
  }

  public java.time.Duration heartbeatInterval(DeploymentKey key) {
    return served(key).spec().heartbeatInterval();
  }

  public PlacementChannel placement(DeploymentKey key) {
    return served(key).placement();
  }

  /**
   * A worker's load report; returns the placement version served now. A re-plan the report triggers is
   * committed asynchronously: watchers hear of it once it is persisted.
   */
  public long reportLoad(DeploymentKey key, LoadReport report) {
    Deployment d = served(key);
    PlacementChannel.Reported reported = d.placement().report(report);
    reported.revision().ifPresent(revision -> {
      try {
        timers.execute(() -> commitRevision(key, d, revision));
      } catch (RejectedExecutionException e) {
        d.placement().revisionFinished(revision);
      }
    });
    return reported.placementVersion();
  }

  public KeyValueCore store() {
    return store;
  }

  @Override
  public boolean registering() {
    return clock.instant().isBefore(registeringUntil);
  }

  @Override
  public Optional<DeploymentKey> ownerOf(String credentialSha256) {
    return Optional.ofNullable(owners.get(credentialSha256));
  }

  private Deployment served(DeploymentKey key) {
    Deployment d = deployments.get(key);
    if (d == null) {
      // The credential resolved, so the deployment exists but is being (re)registered: retry.
      throw new RendezvousUnavailableException("deployment " + key + " is not served by this operator yet", null);
    }
    return d;
  }

  private void commitRevision(DeploymentKey key, Deployment d, PlacementChannel.Revision revision) {
    try {
      if (!d.membership().revisePlacement(revision.epoch(), revision.basedOnVersion())) {
        LOG.debugf("%s: load-driven re-plan of version %d superseded by a newer commit", key,
            revision.basedOnVersion());
      }
    } catch (RuntimeException e) {
      LOG.warnf("%s: load-driven re-plan of version %d not committed: %s", key, revision.basedOnVersion(),
          e.getMessage());
    } finally {
      d.placement().revisionFinished(revision);
    }
  }

  private void start(DeploymentKey key, RendezvousSpec spec, MembershipState initial) {
    List<Meter> bound = new ArrayList<>();
    String deployment = key.toString();
    Map<RebalancePolicy.Reason, Counter> replans = new EnumMap<>(RebalancePolicy.Reason.class);
    for (RebalancePolicy.Reason reason : REPLAN_REASONS) {
      Counter c = Counter.builder("elasticmoe.placement.replans")
          .description("Placements published, by why: a membership commit or the load trigger's rule")
          .tag("deployment", deployment)
          .tag("reason", reason.name())
          .register(meters);
      replans.put(reason, c);
      bound.add(c);
    }
    PlacementChannel placement = new PlacementChannel(key, planner, spec.placement(), spec.maxRanks(), clock,
        (published, reason, message) -> {
          replans.get(reason).increment();
          if (reason != RebalancePolicy.Reason.MembershipChanged) {
            // Called under the membership and channel locks: the API-server write goes to the timer thread.
            String text = "placement version " + published.getVersion() + " for epoch " + published.getEpoch()
                + ": " + message;
            try {
              timers.execute(() -> rebalanceEvents.loadDrivenReplan(key, reason.name(), text));
            } catch (RejectedExecutionException e) {
              LOG.debugf("%s: operator stopping, no event for %s", key, text);
            }
          }
        });
    bound.add(
        Gauge.builder("elasticmoe.placement.imbalance", placement, PlacementChannel::lastImbalance)
            .description("Max over mean of tokens per active rank since the current placement, at the last report")
            .tag("deployment", deployment)
            .register(meters));
    bound.add(
        Gauge.builder("elasticmoe.placement.version", placement,
                p -> p.current().map(ExpertPlacement::getVersion).orElse(0L))
            .description("Version of the placement served now")
            .tag("deployment", deployment)
            .register(meters));
    MembershipMachine machine =
        new MembershipMachine(key, initial, clock, committedStore, timers, placement::onCommit);
    bound.add(
        Gauge.builder("elasticmoe.rendezvous.epoch", machine, m -> m.state().epoch())
            .description("Committed rendezvous epoch")
            .tag("deployment", deployment)
            .register(meters));
    bound.add(
        Gauge.builder("elasticmoe.rendezvous.members", machine, m -> m.state().committed().worldSize())
            .description("Ranks in the committed epoch")
            .tag("deployment", deployment)
            .register(meters));
    bound.add(
        Gauge.builder("elasticmoe.rendezvous.watchers", machine, MembershipMachine::watcherCount)
            .description("Open membership watch streams")
            .tag("deployment", deployment)
            .register(meters));
    deployments.put(key, new Deployment(machine, placement, spec, bound));
    owners.put(spec.credentialSha256(), key);
    if (initial.epoch() > 0) {
      publishResumedPlacement(key, machine, placement, initial.committed());
    }
    // Re-plan timers for a resumed state (heartbeat expiry of members that never come back).
    machine.apply(new MembershipEvent.Tick());
  }

  /**
   * The persisted placement version was planned from load this process never saw, so planning again gives
   * other content, which must not go out under the same version (workers holding the old one would
   * disagree with workers fetching the new one, and reports would be attributed to the wrong experts).
   * The resumed epoch therefore gets the next version, persisted first like any revision. Only when that
   * cannot be persisted is the plan served under the persisted version, so that joining workers can start.
   */
  private static void publishResumedPlacement(
      DeploymentKey key, MembershipMachine machine, PlacementChannel placement, CommittedState resumed) {
    try {
      if (machine.revisePlacement(resumed.epoch(), resumed.placementVersion())) {
        return;
      }
    } catch (RendezvousUnavailableException e) {
      LOG.warnf("%s: resumed epoch %d keeps placement version %d: %s", key, resumed.epoch(),
          resumed.placementVersion(), e.getMessage());
    }
    placement.onCommit(machine.state().committed());
  }

  private void stop(DeploymentKey key) {
    Deployment d = deployments.remove(key);
    if (d == null) {
      return;
    }
    owners.remove(d.credentialSha256(), key);
    d.membership().close();
    d.meters().forEach(meters::remove);
  }

  private static MembershipConfig membershipConfig(RendezvousSpec spec) {
    return new MembershipConfig(
        new TreeSet<>(spec.plannedRanks()),
        spec.minAvailableRanks(),
        spec.maxRanks(),
        spec.heartbeatTimeout(),
        spec.joinTimeout());
  }
}
