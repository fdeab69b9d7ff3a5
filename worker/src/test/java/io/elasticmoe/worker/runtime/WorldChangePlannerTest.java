package io.elasticmoe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.elasticmoe.worker.runtime.WorldView.Directive;
import java.util.Set;
import org.junit.jupiter.api.Test;

class WorldChangePlannerTest {

  private static final int[] NO_MASK = new int[8];

  @Test
  void connectsEveryPeerOfTheFirstWorld() {
    WorldChange change = WorldChangePlanner.plan(1, Set.of(), NO_MASK, new WorldView(0, new int[] {3, 0, 1, 2}, Directive.RUN));
    assertThat(change.connect()).containsExactly(0, 2, 3);
    assertThat(change.disconnect()).isEmpty();
    assertThat(change.world()).containsExactly(0, 1, 2, 3);
  }

  @Test
  void passesEveryPeerOfAGrownWorldThroughConnectAndDisconnectsNone() {
    // Connect opens endpoints only to new processes (4, 5, or a replaced one); the others keep theirs.
    WorldChange change = WorldChangePlanner.plan(0, Set.of(1, 2, 3), NO_MASK, new WorldView(1, new int[] {0, 1, 2, 3, 4, 5}, Directive.RUN));
    assertThat(change.connect()).containsExactly(1, 2, 3, 4, 5);
    assertThat(change.disconnect()).isEmpty();
  }

  @Test
  void disconnectsRanksThatLeftTheWorld() {
    WorldChange change = WorldChangePlanner.plan(0, Set.of(1, 2, 3), NO_MASK, new WorldView(2, new int[] {0, 3}, Directive.RUN));
    assertThat(change.disconnect()).containsExactly(1, 2);
    assertThat(change.connect()).containsExactly(3);
    assertThat(change.world()).containsExactly(0, 3);
  }

  @Test
  void aMaskedRankStillInTheWorldIsNotDisconnectedOneSidedlyButGoesThroughConnect() {
    int[] mask = new int[8];
    mask[6] = 1;
    WorldChange change = WorldChangePlanner.plan(0, Set.of(1, 6, 7), mask, new WorldView(3, new int[] {0, 1, 6, 7}, Directive.RUN));
    assertThat(change.disconnect()).isEmpty();
    assertThat(change.connect()).containsExactly(1, 6, 7);
  }

  @Test
  void drainDisconnectsEveryPeerAndConnectsNothing() {
    WorldChange change = WorldChangePlanner.plan(2, Set.of(0, 1, 3), NO_MASK, new WorldView(4, new int[] {0, 1, 2, 3}, Directive.DRAIN));
    assertThat(change.disconnect()).containsExactly(0, 1, 3);
    assertThat(change.connect()).isEmpty();
    assertThat(change.world()).isEmpty();
  }

  @Test
  void rejectsARunViewThatOmitsThisRank() {
    assertThatThrownBy(() -> WorldChangePlanner.plan(5, Set.of(), NO_MASK, new WorldView(7, new int[] {0, 1}, Directive.RUN)))
        .hasMessageContaining("epoch 7 tells rank 5 to RUN").hasMessageContaining("[0, 1]");
  }
}
