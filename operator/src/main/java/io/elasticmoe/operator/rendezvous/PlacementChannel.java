package io.elasticmoe.operator.rendezvous;

import io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement;
import io.elasticmoe.api.rendezvous.v1alpha1.LoadReport;
import io.elasticmoe.operator.rendezvous.core.CommittedState;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.RebalanceTrigger;
import io.elasticmoe.operator.rendezvous.core.StaleEpochException;
import io.elasticmoe.operator.rendezvous.grpc.InvalidRequestException;
import io.elasticmoe.placement.PlacementPlanner;
import io.elasticmoe.placement.PlacementRequest;
import io.elasticmoe.placement.RebalancePolicy;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * One deployment's placement channel: accumulates per-expert load from worker reports, plans with the
 * accumulated load on every commit, and publishes the placement under the version the commit carries (so
 * the assignment and the placement name the same version). Watchers get every new placement.
 *
 * <p>Two kinds of commit reach {@link #onCommit}: a membership commit (new epoch) and a load-driven
 * revision (same epoch, next placement version). The channel decides the second itself: each report
 * feeds a {@link RebalanceTrigger}, and when its {@link RebalancePolicy} says re-plan, {@link #report}
 * hands the caller a {@link Revision}. The caller commits it through {@link
 * MembershipMachine#revisePlacement}, which persists the version, calls {@link #onCommit} (plan and
 * publish) and then announces assignments naming it, and finally calls {@link #revisionFinished}. At most
 * one revision is outstanding; one that did not commit restarts the cooldown.
 *
 * <p>Lock order: the membership machine's monitor, then this one; this object never calls the machine.
 */
public final class PlacementChannel {
  private static final Logger LOG = Logger.getLogger(PlacementChannel.class);

  /** Told about every published placement and why; called under the channel's lock, must not block. */
  public interface ReplanListener {
    /**
     * @param reason {@code MembershipChanged} for a new epoch, else the policy's reason for a load-driven
     *     re-plan
     * @param message what changed or which rule fired, with its values
     */
    void replanned(ExpertPlacement placement, RebalancePolicy.Reason reason, String message);
  }

  /**
   * A load-driven re-plan decided by the channel, to be committed by the caller.
   *
   * @param epoch the committed epoch it was decided in
   * @param basedOnVersion the committed placement version when it was decided (normally the one the
   *     imbalance was measured under); the revision commits version {@code basedOnVersion + 1}
   * @param imbalance max over mean of tokens per active rank since that placement
   */
  public record Revision(long epoch, long basedOnVersion, RebalancePolicy.Decision decision, double imbalance) {}

  /**
   * @param placementVersion the version the channel serves now (the answer to the report)
   * @param revision a re-plan the caller must commit; empty almost always
   */
  public record Reported(long placementVersion, Optional<Revision> revision) {}

  private final DeploymentKey key;
  private final PlacementPlanner planner;
  private final Clock clock;
  private final ReplanListener listener;
  private PlacementConfig config;
  private int maxRanks;
  private double[][] load;
  private ExpertPlacement current;
  private long currentEpoch;
  /** The version of the last commit; ahead of {@code current}'s when the planner refused that commit. */
  private long committedVersion;
  private final List<Consumer<ExpertPlacement>> watchers = new ArrayList<>();
  /** Load since the current placement; null before the first one. */
  private RebalanceTrigger trigger;
  private Revision pending;
  /** The last imbalance the policy was asked about; NaN before the first evaluation (metrics read it). */
  private volatile double lastImbalance = Double.NaN;

  public PlacementChannel(
      DeploymentKey key,
      PlacementPlanner planner,
      PlacementConfig config,
      int maxRanks,
      Clock clock,
      ReplanListener listener) {
    this.key = key;
    this.planner = planner;
    this.clock = clock;
    this.listener = listener;
    reconfigure(config, maxRanks);
  }

  public synchronized void reconfigure(PlacementConfig config, int maxRanks) {
    if (config.numPhysicalExperts() % maxRanks != 0) {
      throw new IllegalArgumentException(
          "numPhysicalExperts is " + config.numPhysicalExperts() + "; it must be a multiple of maxRanks = " + maxRanks);
    }
    boolean shapeChanged =
        this.config == null
            || this.config.layers() != config.layers()
            || this.config.numLogicalExperts() != config.numLogicalExperts();
    this.config = config;
    this.maxRanks = maxRanks;
    if (shapeChanged) {
      load = new double[config.layers()][config.numLogicalExperts()];
    }
    if (trigger != null) {
      trigger = trigger.withPolicy(config.rebalance());
    }
  }

  public synchronized Optional<ExpertPlacement> current() {
    return Optional.ofNullable(current);
  }

  /** Max over mean of tokens per active rank at the last evaluation; NaN before the first one. */
  public double lastImbalance() {
    return lastImbalance;
  }

  /**
   * Plans for a commit: a new epoch, or the next placement version of the current epoch (a revision this
   * channel asked for). The old placement stays when the planner refuses the shape.
   */
  public synchronized void onCommit(CommittedState commit) {
    Revision revision = commit.epoch() == currentEpoch ? pending : null;
    pending = null;
    currentEpoch = commit.epoch();
    committedVersion = commit.placementVersion();
    io.elasticmoe.placement.ExpertPlacement plan;
    try {
      plan =
          planner.plan(
              new PlacementRequest(
                  copy(load),
                  config.numPhysicalExperts(),
                  config.numGroups(),
                  1,
                  maxRanks,
                  commit.activeRanks(),
                  config.rankFailureDomains()));
    } catch (IllegalArgumentException e) {
      LOG.warnf("%s epoch=%d: no placement for ranks %s: %s", key, commit.epoch(), commit.activeRanks(), e.getMessage());
      if (revision != null && trigger != null) {
        trigger = trigger.afterFailedAttempt(clock.instant());
      }
      return;
    }
    current = toProto(plan, commit);
    RebalancePolicy.Reason reason;
    String message;
    boolean armed;
    if (revision != null) {
      reason = revision.decision().reason();
      message = revision.decision().message();
      armed = revision.decision().armed();
    } else {
      // A new epoch always re-plans (the policy's first rule), which also re-arms the load trigger.
      reason = RebalancePolicy.Reason.MembershipChanged;
      message = "epoch " + commit.epoch() + " committed ranks " + commit.activeRanks();
      armed = true;
    }
    trigger = RebalanceTrigger.afterPlan(config.rebalance(), commit.activeRanks(), clock.instant(), armed);
    LOG.infof("%s epoch=%d placementVersion=%d planned (%s: %s)", key, commit.epoch(), current.getVersion(), reason,
        message);
    for (Consumer<ExpertPlacement> w : List.copyOf(watchers)) {
      w.accept(current);
    }
    listener.replanned(current, reason, message);
  }

  /**
   * The caller is done with {@code revision}: committed (then {@link #onCommit} already consumed it),
   * superseded by a membership commit, or failed. One still outstanding did not commit: the trigger
   * waits a full interval before it may fire again.
   */
  public synchronized void revisionFinished(Revision revision) {
    if (pending == revision) {
      pending = null;
      trigger = trigger.afterFailedAttempt(clock.instant());
    }
  }

  /**
   * Adds a report's tokens to the load of the experts its slots hold and to its rank's share of the
   * load since the current placement, then asks the rebalance policy once every active rank has
   * reported. Returns the current version and, when the policy says so, a revision to commit.
   */
  public synchronized Reported report(LoadReport report) {
    if (report.getEpoch() != currentEpoch) {
      throw new StaleEpochException(report.getEpoch(), currentEpoch);
    }
    if (current == null || report.getPlacementVersion() != current.getVersion()) {
      // Slots of another version hold other experts: the counts cannot be attributed.
      return new Reported(current == null ? 0 : current.getVersion(), Optional.empty());
    }
    int slotsPerRank = current.getSlotsPerRank();
    int expected = config.layers() * slotsPerRank;
    if (report.getTokensPerSlotCount() != expected) {
      throw new InvalidRequestException(
          "tokens_per_slot",
          "has " + report.getTokensPerSlotCount() + " entries; it must have layers × slots_per_rank = "
              + config.layers() + " × " + slotsPerRank + " = " + expected);
    }
    if (report.getRank() < 0 || report.getRank() >= maxRanks) {
      throw new InvalidRequestException("rank", "is " + report.getRank() + "; it must be in [0, " + maxRanks + ")");
    }
    for (int i = 0; i < expected; i++) {
      if (report.getTokensPerSlot(i) < 0) {
        throw new InvalidRequestException(
            "tokens_per_slot[" + i + "]", "is " + report.getTokensPerSlot(i) + "; token counts cannot be negative");
      }
    }
    int physical = config.numPhysicalExperts();
    long received = 0;
    for (int layer = 0; layer < config.layers(); layer++) {
      for (int i = 0; i < slotsPerRank; i++) {
        int slot = report.getRank() * slotsPerRank + i;
        int logical = current.getPhy2Log(layer * physical + slot);
        long tokens = report.getTokensPerSlot(layer * slotsPerRank + i);
        if (logical >= 0) {
          load[layer][logical] += tokens;
          received = received + tokens < 0 ? Long.MAX_VALUE : received + tokens;
        }
      }
    }
    trigger = trigger.withReport(report.getRank(), received);
    return new Reported(current.getVersion(), pending == null ? decide() : Optional.empty());
  }

  private Optional<Revision> decide() {
    Optional<RebalanceTrigger.Evaluation> evaluation = trigger.evaluate(clock.instant());
    if (evaluation.isEmpty()) {
      return Optional.empty();
    }
    lastImbalance = evaluation.get().imbalance();
    RebalancePolicy.Decision decision = evaluation.get().decision();
    if (!decision.rebalance()) {
      trigger = trigger.kept(decision);
      return Optional.empty();
    }
    pending = new Revision(currentEpoch, committedVersion, decision, evaluation.get().imbalance());
    LOG.debugf("%s epoch=%d placementVersion=%d: %s", key, currentEpoch, current.getVersion(), decision.message());
    return Optional.of(pending);
  }

  /** Sends the current placement if newer than {@code afterVersion}, then every new one. */
  public synchronized Runnable watch(long afterVersion, Consumer<ExpertPlacement> sink) {
    if (current != null && current.getVersion() > afterVersion) {
      sink.accept(current);
    }
    watchers.add(sink);
    return () -> unwatch(sink);
  }

  private synchronized void unwatch(Consumer<ExpertPlacement> sink) {
    watchers.remove(sink);
  }

  private ExpertPlacement toProto(io.elasticmoe.placement.ExpertPlacement plan, CommittedState commit) {
    int maxReplicas = plan.log2phy().length == 0 || plan.log2phy()[0].length == 0 ? 0 : plan.log2phy()[0][0].length;
    ExpertPlacement.Builder b =
        ExpertPlacement.newBuilder()
            .setVersion(commit.placementVersion())
            .setEpoch(commit.epoch())
            .setNumLayers(config.layers())
            .setNumLogicalExperts(config.numLogicalExperts())
            .setNumPhysicalExperts(config.numPhysicalExperts())
            .setSlotsPerRank(config.numPhysicalExperts() / maxRanks)
            .setMaxReplicas(maxReplicas)
            .addAllExpertsAtRisk(plan.expertsAtRisk())
            .addAllActiveRanks(commit.activeRanks());
    for (int[] row : plan.phy2log()) {
      for (int v : row) {
        b.addPhy2Log(v);
      }
    }
    for (int[][] layer : plan.log2phy()) {
      for (int[] row : layer) {
        for (int v : row) {
          b.addLog2Phy(v);
        }
      }
    }
    for (int[] row : plan.logcnt()) {
      for (int v : row) {
        b.addLogcnt(v);
      }
    }
    return b.build();
  }

  private static double[][] copy(double[][] a) {
    double[][] c = new double[a.length][];
    for (int i = 0; i < a.length; i++) {
      c[i] = a[i].clone();
    }
    return c;
  }
}
