package io.elasticmoe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.elasticmoe.worker.runtime.EpochSwitchPlanner.Checkpoint;
import io.elasticmoe.worker.runtime.WorldView.Directive;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.LongFunction;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class EpochSwitchPlannerTest {

  private static final AgreedWorld WORLD = new AgreedWorld(3, 0, new int[] {0, 1, 2, 3});
  private static final LongFunction<OptionalLong> NO_PLACEMENT = epoch -> OptionalLong.empty();

  @Property
  void anyNumberOfAnnouncersOfOneStepAgreeOnIt(
      @ForAll @LongRange(min = 1, max = 1L << 50) long target, @ForAll @IntRange(min = 1, max = 65535) int announcers,
      @ForAll @IntRange(min = 1, max = 64) int interval) {
    long counter = announcers * EpochSwitchPlanner.announcement(target);
    assertThat(EpochSwitchPlanner.targetResidue(counter)).hasValue(target % EpochSwitchPlanner.TARGET_MODULUS);
    long checkpoint = target - target % interval + interval;
    assertThat(EpochSwitchPlanner.decide(checkpoint, interval, announcers * EpochSwitchPlanner.announcement(checkpoint), false))
        .isEqualTo(Checkpoint.SWITCH);
    assertThat(EpochSwitchPlanner.decide(checkpoint, interval,
        announcers * EpochSwitchPlanner.announcement(checkpoint + interval), false)).isEqualTo(Checkpoint.PENDING);
  }

  @Test
  void anEmptyCounterMeansNoSwitch() {
    assertThat(EpochSwitchPlanner.targetResidue(0)).isEmpty();
    assertThat(EpochSwitchPlanner.decide(8, 8, 0, false)).isEqualTo(Checkpoint.CONTINUE);
    assertThat(EpochSwitchPlanner.decide(8, 8, 0, true)).isEqualTo(Checkpoint.ANNOUNCE);
  }

  @Test
  void switchesOnlyAtTheAnnouncedCheckpoint() {
    long forStep16 = 3 * EpochSwitchPlanner.announcement(16);
    assertThat(EpochSwitchPlanner.decide(8, 8, forStep16, true)).as("announced concurrently at 8").isEqualTo(Checkpoint.PENDING);
    assertThat(EpochSwitchPlanner.decide(16, 8, forStep16, false)).isEqualTo(Checkpoint.SWITCH);
    assertThatThrownBy(() -> EpochSwitchPlanner.decide(24, 8, forStep16, false))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("agreed for step 16").hasMessageContaining("missed");
    assertThatThrownBy(() -> EpochSwitchPlanner.decide(12, 8, forStep16, false)).hasMessageContaining("not a checkpoint");
  }

  @Test
  void rejectsACounterThatIsNotASumOfEqualAnnouncements() {
    long mixed = EpochSwitchPlanner.announcement(16) + EpochSwitchPlanner.announcement(25);
    assertThatThrownBy(() -> EpochSwitchPlanner.targetResidue(mixed)).hasMessageContaining("not a sum of equal announcements");
  }

  @Test
  void checkpointsAreMultiplesOfTheIntervalAfterTheFirstStep() {
    assertThat(EpochSwitchPlanner.isCheckpoint(0, 4)).isFalse();
    assertThat(EpochSwitchPlanner.isCheckpoint(4, 4)).isTrue();
    assertThat(EpochSwitchPlanner.isCheckpoint(6, 4)).isFalse();
    assertThat(EpochSwitchPlanner.isCheckpoint(7, 1)).isTrue();
  }

  @Test
  void proposesANewerEpochAsItIs() {
    WorldView view = new WorldView(4, new int[] {0, 1, 2, 3, 4, 5}, Directive.RUN);
    assertThat(EpochSwitchPlanner.proposal(1, WORLD, Optional.of(view), Set.of(), NO_PLACEMENT))
        .contains(new AgreedWorld(4, 0, new int[] {0, 1, 2, 3, 4, 5}));
    assertThat(EpochSwitchPlanner.proposal(1, WORLD, Optional.of(new WorldView(3, WORLD.ranks(), Directive.RUN)), Set.of(), NO_PLACEMENT))
        .as("the current epoch").isEmpty();
    assertThat(EpochSwitchPlanner.proposal(1, WORLD, Optional.empty(), Set.of(), NO_PLACEMENT)).isEmpty();
  }

  @Test
  void aDrainingRankProposesTheWorldWithoutItselfAtTheNextGeneration() {
    WorldView drain = new WorldView(3, new int[] {0, 1, 2, 3}, Directive.DRAIN);
    assertThat(EpochSwitchPlanner.proposal(3, WORLD, Optional.of(drain), Set.of(), NO_PLACEMENT))
        .contains(new AgreedWorld(3, 1, new int[] {0, 1, 2}, new int[] {3}));
    WorldView drainInNewerEpoch = new WorldView(5, new int[] {0, 1, 2, 3, 6}, Directive.DRAIN);
    assertThat(EpochSwitchPlanner.proposal(3, WORLD, Optional.of(drainInNewerEpoch), Set.of(), NO_PLACEMENT))
        .contains(new AgreedWorld(5, 0, new int[] {0, 1, 2, 6}, new int[] {3}));
  }

  @Test
  void aDrainedRankStaysOutOfANewerEpochThatStillListsIt() {
    // Ranks 2 and 3 drained (generations 1, 2); the epoch committed by 3's Leave still lists draining 2.
    AgreedWorld drained = new AgreedWorld(3, 2, new int[] {0, 1}, new int[] {2, 3});
    WorldView next = new WorldView(4, new int[] {0, 1, 2}, Directive.RUN);
    assertThat(EpochSwitchPlanner.proposal(0, drained, Optional.of(next), Set.of(), NO_PLACEMENT))
        .contains(new AgreedWorld(4, 0, new int[] {0, 1}, new int[] {2}));
    assertThat(EpochSwitchPlanner.proposal(0, drained, Optional.of(next), Set.of(2), NO_PLACEMENT))
        .as("a new process of rank 2 waits to join: the listing is about it")
        .contains(new AgreedWorld(4, 0, new int[] {0, 1, 2}));
    WorldView afterBothLeft = new WorldView(5, new int[] {0, 1, 5}, Directive.RUN);
    assertThat(EpochSwitchPlanner.proposal(0, new AgreedWorld(4, 0, new int[] {0, 1}, new int[] {2}), Optional.of(afterBothLeft), Set.of(), NO_PLACEMENT))
        .contains(new AgreedWorld(5, 0, new int[] {0, 1, 5}));
  }

  @Test
  void aRankLeftOutOfANewerEpochProposesItWithoutItself() {
    WorldView lost = new WorldView(5, new int[] {0, 1, 3}, Directive.REJOIN);
    assertThat(EpochSwitchPlanner.proposal(2, WORLD, Optional.of(lost), Set.of(), NO_PLACEMENT)).contains(new AgreedWorld(5, 0, new int[] {0, 1, 3}));
    AgreedWorld without2 = new AgreedWorld(5, 0, new int[] {0, 1, 3});
    assertThat(EpochSwitchPlanner.proposal(2, without2, Optional.of(lost), Set.of(), NO_PLACEMENT)).as("already out").isEmpty();
  }

  @Test
  void aNewGenerationOnlyDisconnectsTheRemovedRanks() {
    int[] mask = new int[8];
    mask[2] = 1; // masked but still in the world: it stays connected until an epoch removes it
    WorldChange change = EpochSwitchPlanner.change(0, Set.of(1, 2, 3), mask, WORLD, new AgreedWorld(3, 1, new int[] {0, 1, 2}));
    assertThat(change.disconnect()).containsExactly(3);
    assertThat(change.connect()).isEmpty();
    assertThat(change.world()).containsExactly(0, 1, 2);
  }

  @Test
  void aNewerEpochGoesThroughTheWorldChangePlanner() {
    WorldChange change = EpochSwitchPlanner.change(0, Set.of(1, 2, 3), new int[8], WORLD, new AgreedWorld(4, 0, new int[] {0, 1, 3, 4}));
    assertThat(change.disconnect()).containsExactly(2);
    assertThat(change.connect()).containsExactly(1, 3, 4);
    assertThatThrownBy(() -> EpochSwitchPlanner.change(0, Set.of(1), new int[8], WORLD, new AgreedWorld(2, 0, new int[] {0, 1})))
        .hasMessageContaining("back to");
  }

  @Test
  void joinsOnlyAWorldOfAnEpochThisProcessWasAssigned() {
    AgreedWorld agreed = new AgreedWorld(6, 0, new int[] {0, 1, 4});
    WorldView assigned = new WorldView(6, new int[] {0, 1, 4}, Directive.RUN);
    assertThat(EpochSwitchPlanner.joinable(4, agreed, -1, Optional.of(assigned))).isTrue();
    assertThat(EpochSwitchPlanner.joinable(4, agreed, -1, Optional.empty())).as("an earlier process's world").isFalse();
    assertThat(EpochSwitchPlanner.joinable(4, agreed, 6, Optional.of(assigned))).as("left it already").isFalse();
    assertThat(EpochSwitchPlanner.joinable(2, agreed, -1, Optional.of(assigned))).as("not in it").isFalse();
    assertThat(EpochSwitchPlanner.joinable(4, agreed, -1, Optional.of(new WorldView(6, new int[] {0, 1, 4}, Directive.DRAIN))))
        .isFalse();
    assertThat(EpochSwitchPlanner.joinable(4, new AgreedWorld(6, 1, new int[] {1, 4}), -1, Optional.of(assigned)))
        .as("a later generation of the epoch").isTrue();
    assertThat(EpochSwitchPlanner.joinable(4, new AgreedWorld(6, 0, new int[] {0, 1, 3, 4}), -1, Optional.of(assigned)))
        .as("a world with a rank the epoch does not have (left by an earlier run)").isFalse();
  }

  @Test
  void foundsAWorldWhenNoneRanOrTheRecordedOneIsStale() {
    WorldView assigned = new WorldView(9, new int[] {0, 1}, Directive.RUN);
    Optional<AgreedWorld> older = Optional.of(new AgreedWorld(3, 0, new int[] {0, 1}));
    Duration stale = Duration.ofSeconds(30);
    assertThat(EpochSwitchPlanner.mayFound(0, assigned, Optional.empty(), Duration.ZERO, stale)).isTrue();
    assertThat(EpochSwitchPlanner.mayFound(0, assigned, older, Duration.ofSeconds(29), stale)).as("may still switch").isFalse();
    assertThat(EpochSwitchPlanner.mayFound(0, assigned, older, stale, stale)).isTrue();
    assertThat(EpochSwitchPlanner.mayFound(0, assigned, Optional.of(new AgreedWorld(9, 0, new int[] {0})), stale, stale))
        .as("the epoch runs already").isFalse();
    assertThat(EpochSwitchPlanner.mayFound(2, assigned, Optional.empty(), Duration.ZERO, stale)).as("not in it").isFalse();
    assertThat(EpochSwitchPlanner.mayFound(0, new WorldView(9, new int[] {0, 1}, Directive.REJOIN), Optional.empty(),
        Duration.ZERO, stale)).isFalse();
  }

  @Test
  void agreedWorldsRoundTripThroughTheStoreEncoding() {
    AgreedWorld world = new AgreedWorld(12, 2, new int[] {5, 0, 7});
    assertThat(AgreedWorld.decode(world.encode())).isEqualTo(world);
    assertThat(new String(world.encode(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("12 2 0,5,7");
    AgreedWorld withDrained = new AgreedWorld(12, 3, new int[] {0, 5}, new int[] {7, 1});
    assertThat(AgreedWorld.decode(withDrained.encode())).isEqualTo(withDrained);
    assertThat(new String(withDrained.encode(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("12 3 0,5 1,7");
    assertThatThrownBy(() -> AgreedWorld.decode("12 x".getBytes())).hasMessageContaining("not an agreed world: '12 x'");
  }

  /** {@code versionByEpoch}: the newest placement version received per epoch, looked up as ObservedViews does. */
  private static LongFunction<OptionalLong> placements(TreeMap<Long, Long> versionByEpoch) {
    return epoch -> Optional.ofNullable(versionByEpoch.floorEntry(epoch))
        .map(e -> OptionalLong.of(e.getValue())).orElse(OptionalLong.empty());
  }

  @Test
  void aNewerPlacementOfTheSameEpochIsTheSameRanksAtTheNextGeneration() {
    AgreedWorld world = new AgreedWorld(3, 1, new int[] {0, 1, 2}, new int[] {3}, 7);
    TreeMap<Long, Long> received = new TreeMap<>(java.util.Map.of(2L, 5L, 3L, 9L));
    assertThat(EpochSwitchPlanner.proposal(0, world, Optional.of(new WorldView(3, new int[] {0, 1, 2, 3}, Directive.RUN)),
        Set.of(), placements(received)))
        .contains(new AgreedWorld(3, 2, new int[] {0, 1, 2}, new int[] {3}, 9));
    received.put(3L, 7L);
    assertThat(EpochSwitchPlanner.proposal(0, world, Optional.empty(), Set.of(), placements(received)))
        .as("the version it routes by already").isEmpty();
    assertThat(EpochSwitchPlanner.proposal(0, world, Optional.empty(), Set.of(), placements(new TreeMap<>(java.util.Map.of(4L, 11L)))))
        .as("a placement of an epoch this world has not reached").isEmpty();
  }

  @Test
  void aNewEpochRoutesByItsOwnPlacementOrKeepsTheCurrentOne() {
    AgreedWorld world = new AgreedWorld(3, 0, new int[] {0, 1, 2, 3}, new int[0], 7);
    WorldView grown = new WorldView(4, new int[] {0, 1, 2, 3, 4}, Directive.RUN);
    assertThat(EpochSwitchPlanner.proposal(1, world, Optional.of(grown), Set.of(), placements(new TreeMap<>(java.util.Map.of(4L, 8L)))))
        .contains(new AgreedWorld(4, 0, new int[] {0, 1, 2, 3, 4}, new int[0], 8));
    assertThat(EpochSwitchPlanner.proposal(1, world, Optional.of(grown), Set.of(), NO_PLACEMENT))
        .as("epoch 4's placement not received yet: a later checkpoint installs it")
        .contains(new AgreedWorld(4, 0, new int[] {0, 1, 2, 3, 4}, new int[0], 7));
    WorldView drain = new WorldView(3, new int[] {0, 1, 2, 3}, Directive.DRAIN);
    assertThat(EpochSwitchPlanner.proposal(3, world, Optional.of(drain), Set.of(), placements(new TreeMap<>(java.util.Map.of(3L, 9L)))))
        .as("a drainer takes itself out and brings the epoch's newest placement along")
        .contains(new AgreedWorld(3, 1, new int[] {0, 1, 2}, new int[] {3}, 9));
  }

  @Test
  void aPlacementSwitchChangesNoConnectionAndNeverGoesBack() {
    AgreedWorld world = new AgreedWorld(3, 0, new int[] {0, 1, 2, 3}, new int[0], 7);
    WorldChange change = EpochSwitchPlanner.change(0, Set.of(1, 2, 3), new int[8], world, world.withPlacement(9));
    assertThat(change.disconnect()).isEmpty();
    assertThat(change.connect()).isEmpty();
    assertThat(change.world()).containsExactly(0, 1, 2, 3);
    assertThatThrownBy(() -> EpochSwitchPlanner.change(0, Set.of(1, 2, 3), new int[8], world, world.withPlacement(6)))
        .hasMessageContaining("older placement");
  }

  /**
   * Generated sequences of what one rank receives, epochs and placement versions interleaved in any order
   * (a placement may arrive before or after its epoch's view, versions of one epoch out of order), with
   * the world following every proposal, as the ranks do at checkpoints: the version never goes back, is
   * never one planned for a later epoch than the world's, and once everything arrived the world routes by
   * the newest version of its epoch after at most one more switch.
   */
  @Property(tries = 500)
  void proposalsFollowPlacementsForwardWithinTheirEpoch(@ForAll long seed) {
    Random random = new Random(seed);
    List<long[]> placementsOfEpoch = new ArrayList<>(); // {version, epoch}, versions growing with epochs
    long version = 0;
    int epochs = 1 + random.nextInt(5);
    for (long epoch = 1; epoch <= epochs; epoch++) {
      for (int revisions = random.nextInt(4); revisions >= 0; revisions--) {
        placementsOfEpoch.add(new long[] {++version, epoch});
      }
    }
    List<Object> arrivals = new ArrayList<>();
    placementsOfEpoch.forEach(arrivals::add);
    for (long epoch = 2; epoch <= epochs; epoch++) {
      arrivals.add(new WorldView(epoch, new int[] {0, 1, (int) epoch + 1}, Directive.RUN));
    }
    java.util.Collections.shuffle(arrivals, random);
    // Views arrive in epoch order (one Watch stream); placements anywhere around them.
    List<WorldView> viewsInOrder = arrivals.stream().filter(WorldView.class::isInstance).map(WorldView.class::cast)
        .sorted(java.util.Comparator.comparingLong(WorldView::epoch)).toList();
    int nextView = 0;
    AgreedWorld world = new AgreedWorld(1, 0, new int[] {0, 1});
    Optional<WorldView> newest = Optional.empty();
    TreeMap<Long, Long> received = new TreeMap<>();
    for (Object arrival : arrivals) {
      if (arrival instanceof long[] p) {
        received.merge(p[1], p[0], Math::max);
      } else {
        newest = Optional.of(viewsInOrder.get(nextView++));
      }
      if (random.nextBoolean()) {
        continue; // not at a checkpoint yet
      }
      Optional<AgreedWorld> next = EpochSwitchPlanner.proposal(0, world, newest, Set.of(), placements(received));
      if (next.isPresent()) {
        world = checkedSwitch(world, next.get(), placementsOfEpoch);
      }
    }
    for (int more = 0; more < 2; more++) {
      Optional<AgreedWorld> next = EpochSwitchPlanner.proposal(0, world, newest, Set.of(), placements(received));
      if (next.isPresent()) {
        world = checkedSwitch(world, next.get(), placementsOfEpoch);
      }
    }
    assertThat(world.epoch()).isEqualTo(epochs);
    assertThat(world.placementVersion()).isEqualTo(version);
    assertThat(EpochSwitchPlanner.proposal(0, world, newest, Set.of(), placements(received))).as("settled").isEmpty();
  }

  private static AgreedWorld checkedSwitch(AgreedWorld from, AgreedWorld to, List<long[]> placementsOfEpoch) {
    assertThat(to.placementVersion()).as("%s after %s", to, from).isGreaterThanOrEqualTo(from.placementVersion());
    assertThat(to.epoch() > from.epoch() || to.generation() > from.generation()).as("%s after %s", to, from).isTrue();
    long plannedFor = placementsOfEpoch.stream().filter(p -> p[0] == to.placementVersion()).mapToLong(p -> p[1]).findFirst().orElse(0);
    assertThat(plannedFor).as("epoch of the placement %s routes by", to).isLessThanOrEqualTo(to.epoch());
    EpochSwitchPlanner.change(0, Set.of(1), new int[8], from, to);
    return to;
  }

  @Test
  void placementVersionsRoundTripThroughTheStoreEncoding() {
    AgreedWorld world = new AgreedWorld(12, 4, new int[] {0, 5}, new int[0], 31);
    assertThat(new String(world.encode(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("12 4 0,5 placement=31");
    assertThat(AgreedWorld.decode(world.encode())).isEqualTo(world);
    AgreedWorld drained = new AgreedWorld(12, 5, new int[] {0}, new int[] {5}, 32);
    assertThat(new String(drained.encode(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("12 5 0 5 placement=32");
    assertThat(AgreedWorld.decode(drained.encode())).isEqualTo(drained);
    assertThatThrownBy(() -> AgreedWorld.decode("12 5 0 placement=x".getBytes())).hasMessageContaining("not an agreed world");
  }
}
