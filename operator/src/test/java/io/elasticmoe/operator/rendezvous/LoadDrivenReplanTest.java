package io.elasticmoe.operator.rendezvous;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement;
import io.elasticmoe.api.rendezvous.v1alpha1.LoadReport;
import io.elasticmoe.operator.rendezvous.core.CommittedState;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.MembershipConfig;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent;
import io.elasticmoe.operator.rendezvous.core.MembershipState;
import io.elasticmoe.operator.rendezvous.core.RankAssignment;
import io.elasticmoe.operator.rendezvous.grpc.RendezvousUnavailableException;
import io.elasticmoe.operator.rendezvous.persist.CommittedStateStore;
import io.elasticmoe.placement.ExpertPlacementPlanner;
import io.elasticmoe.placement.PlacementPlanner;
import io.elasticmoe.placement.RebalancePolicy;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The placement channel and the membership machine wired as the registry wires them, driven by generated
 * load reports: load-driven re-plans keep the epoch, strictly increase the placement version, are
 * persisted before any watcher hears of them, and honour the cooldown; failed or superseded ones announce
 * nothing.
 */
class LoadDrivenReplanTest {
  private static final DeploymentKey KEY = new DeploymentKey("team-a", "llm");
  private static final int RANKS = 4;
  private static final int SLOTS_PER_RANK = 4;
  private static final Duration INTERVAL = Duration.ofSeconds(30);
  private static final RebalancePolicy POLICY = new RebalancePolicy(INTERVAL, 1.25, 0.1);

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-30T00:00:00Z"));
  private final ScheduledThreadPoolExecutor timers = new ScheduledThreadPoolExecutor(1);
  /** Saves, placements and assignments in the order they happened. */
  private final List<String> log = new ArrayList<>();
  private final List<Instant> loadReplanTimes = new ArrayList<>();
  private final RecordingStore store = new RecordingStore();
  /** While set, the planner refuses every request (as it does a shape it cannot place). */
  private volatile boolean plannerRefuses;
  private PlacementChannel channel;
  private MembershipMachine machine;

  /** Records every save in the shared log; fails while {@code down}. */
  private final class RecordingStore implements CommittedStateStore {
    boolean down;

    @Override
    public void save(DeploymentKey key, CommittedState state) {
      if (down) {
        throw new IllegalStateException("API server unreachable");
      }
      log.add("saved " + state.epoch() + "/" + state.placementVersion());
    }

    @Override
    public Optional<CommittedState> load(DeploymentKey key) {
      return Optional.empty();
    }
  }

  @BeforeEach
  void commitEpochOne() {
    ExpertPlacementPlanner eplb = new ExpertPlacementPlanner();
    PlacementPlanner planner = request -> {
      if (plannerRefuses) {
        throw new IllegalArgumentException("refused for the test");
      }
      return eplb.plan(request);
    };
    channel = new PlacementChannel(KEY, planner,
        new PlacementConfig(8, RANKS * SLOTS_PER_RANK, 1, 1, List.of(), POLICY), RANKS, clock,
        (placement, reason, message) -> {
          if (reason != RebalancePolicy.Reason.MembershipChanged) {
            loadReplanTimes.add(clock.instant());
          }
        });
    // Heartbeats never expire here: the clock jumps by hours and no test sends them.
    MembershipConfig config = new MembershipConfig(new TreeSet<>(List.of(0, 1, 2, 3)), 2, RANKS,
        Duration.ofDays(365), Duration.ofSeconds(60));
    machine = new MembershipMachine(KEY, MembershipState.initial(config), clock, store, timers, channel::onCommit);
    for (int r = 0; r < RANKS; r++) {
      machine.apply(new MembershipEvent.Join(r, uid(r), "pod-" + r, "node-" + r));
    }
    channel.watch(0, p -> log.add("placement " + p.getEpoch() + "/" + p.getVersion()));
    machine.watch(0, uid(0), new MembershipMachine.AssignmentSink() {
      @Override
      public void send(RankAssignment a) {
        log.add("assignment " + a.epoch() + "/" + a.placementVersion());
      }

      @Override
      public void end() {}
    });
    assertThat(log).containsExactly("saved 1/1", "placement 1/1", "assignment 1/1");
    log.clear();
  }

  @AfterEach
  void stop() {
    timers.shutdownNow();
  }

  private static String uid(int rank) {
    return "uid-" + rank;
  }

  private static LoadReport report(int rank, long epoch, long version, long tokensPerSlot) {
    LoadReport.Builder b = LoadReport.newBuilder().setRank(rank).setPodUid(uid(rank)).setEpoch(epoch)
        .setPlacementVersion(version);
    for (int i = 0; i < SLOTS_PER_RANK; i++) {
      b.addTokensPerSlot(tokensPerSlot);
    }
    return b.build();
  }

  /** What the registry does with a revision, synchronously; returns whether it committed. */
  private boolean commit(PlacementChannel.Revision revision) {
    try {
      return machine.revisePlacement(revision.epoch(), revision.basedOnVersion());
    } catch (RendezvousUnavailableException e) {
      return false;
    } finally {
      channel.revisionFinished(revision);
    }
  }

  private long served() {
    return channel.current().orElseThrow().getVersion();
  }

  @Test
  void generatedLoadReplansInsideTheEpochPersistedBeforeAnnouncedAndNoFasterThanTheCooldown() {
    Random random = new Random(20261130);
    int committed = 0;
    int failed = 0;
    for (int round = 0; round < 600; round++) {
      // Phases of skew: rank (round / 50) % 4 is hot by a factor that drifts between 1 and 4.
      int hot = (round / 50) % RANKS;
      double factor = 1 + 3 * random.nextDouble() * random.nextDouble();
      store.down = random.nextInt(6) == 0;
      for (int rank = 0; rank < RANKS; rank++) {
        clock.advance(Duration.ofMillis(random.nextInt(4000)));
        long tokens = Math.round(100 * (rank == hot ? factor : 1));
        PlacementChannel.Reported reported = channel.report(report(rank, 1, served(), tokens));
        assertThat(reported.placementVersion()).isEqualTo(served());
        if (reported.revision().isPresent()) {
          PlacementChannel.Revision revision = reported.revision().get();
          assertThat(revision.imbalance()).isGreaterThanOrEqualTo(POLICY.imbalanceThreshold());
          if (commit(revision)) {
            committed++;
          } else {
            failed++;
          }
        }
      }
    }
    assertThat(committed).as("the generated skew re-plans several times").isGreaterThan(5);
    assertThat(failed).as("some saves failed").isPositive();

    // Every announcement follows the save of its version; versions strictly increase; the epoch stays 1.
    long lastVersion = 1;
    for (int i = 0; i < log.size(); i += 3) {
      long version = lastVersion + 1;
      assertThat(log.subList(i, i + 3)).containsExactly(
          "saved 1/" + version, "placement 1/" + version, "assignment 1/" + version);
      lastVersion = version;
    }
    assertThat(lastVersion).isEqualTo(1 + committed);
    assertThat(machine.state().committed().placementVersion()).isEqualTo(lastVersion);
    assertThat(machine.state().epoch()).isEqualTo(1);
    assertThat(served()).isEqualTo(lastVersion);
    for (int i = 1; i < loadReplanTimes.size(); i++) {
      assertThat(Duration.between(loadReplanTimes.get(i - 1), loadReplanTimes.get(i)))
          .isGreaterThanOrEqualTo(INTERVAL);
    }
  }

  @Test
  void aReplanThatCannotBePersistedAnnouncesNothingAndWaitsOneInterval() {
    clock.advance(INTERVAL);
    store.down = true;
    PlacementChannel.Revision revision = reportSkew(1).orElseThrow();
    assertThatThrownBy(() -> machine.revisePlacement(revision.epoch(), revision.basedOnVersion()))
        .isInstanceOf(RendezvousUnavailableException.class)
        .hasMessageContaining("placement version 2 could not be persisted");
    channel.revisionFinished(revision);
    assertThat(log).isEmpty();
    assertThat(served()).isEqualTo(1);
    assertThat(machine.state().committed().placementVersion()).isEqualTo(1);

    store.down = false;
    clock.advance(INTERVAL.minusSeconds(1));
    assertThat(reportSkew(1)).as("the cooldown restarted at the failed attempt").isEmpty();
    clock.advance(Duration.ofSeconds(1));
    PlacementChannel.Revision retry = reportSkew(1).orElseThrow();
    assertThat(commit(retry)).isTrue();
    assertThat(log).containsExactly("saved 1/2", "placement 1/2", "assignment 1/2");
  }

  @Test
  void aMembershipCommitSupersedesAnOutstandingReplan() {
    clock.advance(INTERVAL);
    PlacementChannel.Revision revision = reportSkew(1).orElseThrow();
    assertThat(reportSkew(1)).as("one revision at a time").isEmpty();
    // Rank 3 drains and leaves before the revision is committed: epoch 2 re-plans with version 2.
    machine.apply(new MembershipEvent.Replan(new MembershipConfig(new TreeSet<>(List.of(0, 1, 2)), 2, RANKS,
        Duration.ofDays(365), Duration.ofSeconds(60))));
    machine.apply(new MembershipEvent.Leave(3, uid(3), 1));
    assertThat(commit(revision)).isFalse();
    ExpertPlacement now = channel.current().orElseThrow();
    assertThat(now.getEpoch()).isEqualTo(2);
    assertThat(now.getVersion()).isEqualTo(2);
    assertThat(log).containsExactly("saved 2/2", "placement 2/2", "assignment 2/2");
    assertThat(loadReplanTimes).isEmpty();
  }

  @Test
  void aVersionThePlannerRefusedIsSkippedByTheNextRevision() {
    clock.advance(INTERVAL);
    plannerRefuses = true;
    assertThat(commit(reportSkew(1).orElseThrow())).isTrue();
    // Version 2 is durable and announced, but no placement was published for it: workers keep version 1.
    assertThat(log).containsExactly("saved 1/2", "assignment 1/2");
    assertThat(served()).isEqualTo(1);

    plannerRefuses = false;
    clock.advance(INTERVAL);
    PlacementChannel.Revision next = reportSkew(1).orElseThrow();
    assertThat(next.basedOnVersion()).isEqualTo(2);
    assertThat(commit(next)).isTrue();
    assertThat(log.subList(2, log.size())).containsExactly("saved 1/3", "placement 1/3", "assignment 1/3");
    assertThat(served()).isEqualTo(3);
  }

  /** Every rank reports once at the served version, rank 0 four times as loaded; the revision, if any. */
  private Optional<PlacementChannel.Revision> reportSkew(long epoch) {
    Optional<PlacementChannel.Revision> revision = Optional.empty();
    for (int rank = 0; rank < RANKS; rank++) {
      PlacementChannel.Reported r = channel.report(report(rank, epoch, served(), rank == 0 ? 400 : 100));
      if (r.revision().isPresent()) {
        revision = r.revision();
      }
    }
    return revision;
  }
}
