package io.elasticmoe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.elasticmoe.worker.runtime.EpochSwitchPlanner.Checkpoint;
import io.elasticmoe.worker.runtime.WorldView.Directive;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class EpochSwitchPlannerTest {

  private static final AgreedWorld WORLD = new AgreedWorld(3, 0, new int[] {0, 1, 2, 3});

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
    assertThat(EpochSwitchPlanner.proposal(1, WORLD, Optional.of(view), Set.of()))
        .contains(new AgreedWorld(4, 0, new int[] {0, 1, 2, 3, 4, 5}));
    assertThat(EpochSwitchPlanner.proposal(1, WORLD, Optional.of(new WorldView(3, WORLD.ranks(), Directive.RUN)), Set.of()))
        .as("the current epoch").isEmpty();
    assertThat(EpochSwitchPlanner.proposal(1, WORLD, Optional.empty(), Set.of())).isEmpty();
  }

  @Test
  void aDrainingRankProposesTheWorldWithoutItselfAtTheNextGeneration() {
    WorldView drain = new WorldView(3, new int[] {0, 1, 2, 3}, Directive.DRAIN);
    assertThat(EpochSwitchPlanner.proposal(3, WORLD, Optional.of(drain), Set.of()))
        .contains(new AgreedWorld(3, 1, new int[] {0, 1, 2}, new int[] {3}));
    WorldView drainInNewerEpoch = new WorldView(5, new int[] {0, 1, 2, 3, 6}, Directive.DRAIN);
    assertThat(EpochSwitchPlanner.proposal(3, WORLD, Optional.of(drainInNewerEpoch), Set.of()))
        .contains(new AgreedWorld(5, 0, new int[] {0, 1, 2, 6}, new int[] {3}));
  }

  @Test
  void aDrainedRankStaysOutOfANewerEpochThatStillListsIt() {
    // Ranks 2 and 3 drained (generations 1, 2); the epoch committed by 3's Leave still lists draining 2.
    AgreedWorld drained = new AgreedWorld(3, 2, new int[] {0, 1}, new int[] {2, 3});
    WorldView next = new WorldView(4, new int[] {0, 1, 2}, Directive.RUN);
    assertThat(EpochSwitchPlanner.proposal(0, drained, Optional.of(next), Set.of()))
        .contains(new AgreedWorld(4, 0, new int[] {0, 1}, new int[] {2}));
    assertThat(EpochSwitchPlanner.proposal(0, drained, Optional.of(next), Set.of(2)))
        .as("a new process of rank 2 waits to join: the listing is about it")
        .contains(new AgreedWorld(4, 0, new int[] {0, 1, 2}));
    WorldView afterBothLeft = new WorldView(5, new int[] {0, 1, 5}, Directive.RUN);
    assertThat(EpochSwitchPlanner.proposal(0, new AgreedWorld(4, 0, new int[] {0, 1}, new int[] {2}), Optional.of(afterBothLeft), Set.of()))
        .contains(new AgreedWorld(5, 0, new int[] {0, 1, 5}));
  }

  @Test
  void aRankLeftOutOfANewerEpochProposesItWithoutItself() {
    WorldView lost = new WorldView(5, new int[] {0, 1, 3}, Directive.REJOIN);
    assertThat(EpochSwitchPlanner.proposal(2, WORLD, Optional.of(lost), Set.of())).contains(new AgreedWorld(5, 0, new int[] {0, 1, 3}));
    AgreedWorld without2 = new AgreedWorld(5, 0, new int[] {0, 1, 3});
    assertThat(EpochSwitchPlanner.proposal(2, without2, Optional.of(lost), Set.of())).as("already out").isEmpty();
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
    assertThat(change.connect()).containsExactly(4);
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
}
