package io.elasticmoe.operator.rendezvous;

import io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement;
import io.elasticmoe.api.rendezvous.v1alpha1.LoadReport;
import io.elasticmoe.operator.rendezvous.core.CommittedState;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.StaleEpochException;
import io.elasticmoe.operator.rendezvous.grpc.InvalidRequestException;
import io.elasticmoe.placement.PlacementPlanner;
import io.elasticmoe.placement.PlacementRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * One deployment's placement channel: accumulates per-expert load from worker reports and re-plans on
 * every membership commit, publishing the placement under the version the commit carries (so the
 * assignment and the placement name the same version). Watchers get every new placement.
 */
public final class PlacementChannel {
  private static final Logger LOG = Logger.getLogger(PlacementChannel.class);

  private final DeploymentKey key;
  private final PlacementPlanner planner;
  private PlacementConfig config;
  private int maxRanks;
  private double[][] load;
  private ExpertPlacement current;
  private long currentEpoch;
  private final List<Consumer<ExpertPlacement>> watchers = new ArrayList<>();

  public PlacementChannel(DeploymentKey key, PlacementPlanner planner, PlacementConfig config, int maxRanks) {
    this.key = key;
    this.planner = planner;
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
  }

  public synchronized Optional<ExpertPlacement> current() {
    return Optional.ofNullable(current);
  }

  /** Plans for a committed epoch; the old placement stays when the planner refuses the shape. */
  public synchronized void onCommit(CommittedState commit) {
    currentEpoch = commit.epoch();
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
      return;
    }
    current = toProto(plan, commit);
    for (Consumer<ExpertPlacement> w : List.copyOf(watchers)) {
      w.accept(current);
    }
  }

  /** Adds a report's tokens to the load of the experts its slots hold; returns the current version. */
  public synchronized long report(LoadReport report) {
    if (report.getEpoch() != currentEpoch) {
      throw new StaleEpochException(report.getEpoch(), currentEpoch);
    }
    if (current == null || report.getPlacementVersion() != current.getVersion()) {
      // Slots of another version hold other experts: the counts cannot be attributed.
      return current == null ? 0 : current.getVersion();
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
    for (int layer = 0; layer < config.layers(); layer++) {
      for (int i = 0; i < slotsPerRank; i++) {
        int slot = report.getRank() * slotsPerRank + i;
        int logical = current.getPhy2Log(layer * physical + slot);
        if (logical >= 0) {
          load[layer][logical] += report.getTokensPerSlot(layer * slotsPerRank + i);
        }
      }
    }
    return current.getVersion();
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
