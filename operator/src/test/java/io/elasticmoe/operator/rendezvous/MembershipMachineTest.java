package io.elasticmoe.operator.rendezvous;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.elasticmoe.operator.rendezvous.core.CommittedState;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.MembershipConfig;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent;
import io.elasticmoe.operator.rendezvous.core.MembershipState;
import io.elasticmoe.operator.rendezvous.core.RankAssignment;
import io.elasticmoe.operator.rendezvous.grpc.RendezvousUnavailableException;
import io.elasticmoe.operator.rendezvous.persist.CommittedStateStore;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class MembershipMachineTest {
  private static final DeploymentKey KEY = new DeploymentKey("team-a", "llm");
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-29T00:00:00Z"));
  private final ScheduledThreadPoolExecutor timers = new ScheduledThreadPoolExecutor(1);

  /** Fails every save while {@code down}; records what it saved. */
  private static final class FlakyStore implements CommittedStateStore {
    volatile boolean down = true;
    final List<CommittedState> saved = new ArrayList<>();

    @Override
    public synchronized void save(DeploymentKey key, CommittedState state) {
      if (down) {
        throw new IllegalStateException("API server unreachable");
      }
      saved.add(state);
    }

    @Override
    public Optional<CommittedState> load(DeploymentKey key) {
      return Optional.empty();
    }
  }

  @AfterEach
  void stop() {
    timers.shutdownNow();
  }

  @Test
  void aCommitThatCannotBePersistedIsNeitherAdoptedNorAnnounced() {
    FlakyStore store = new FlakyStore();
    List<CommittedState> planned = new ArrayList<>();
    MembershipMachine machine = new MembershipMachine(KEY,
        MembershipState.initial(new MembershipConfig(new TreeSet<>(List.of(0, 1)), 1, 4, Duration.ofSeconds(6),
            Duration.ofSeconds(60))),
        clock, store, timers, planned::add);
    List<RankAssignment> seen = new ArrayList<>();
    machine.apply(new MembershipEvent.Join(0, "u0", "p0", "n"));
    machine.watch(0, "u0", new MembershipMachine.AssignmentSink() {
      @Override
      public void send(RankAssignment a) {
        seen.add(a);
      }

      @Override
      public void end() {}
    });
    RendezvousUnavailableException e = assertThrows(RendezvousUnavailableException.class,
        () -> machine.apply(new MembershipEvent.Join(1, "u1", "p1", "n")));
    assertThat(e).hasMessage("deployment team-a/llm: epoch 1 could not be persisted: API server unreachable");
    assertThat(machine.state().epoch()).isZero();
    assertThat(seen).isEmpty();
    assertThat(planned).isEmpty();

    store.down = false;
    machine.apply(new MembershipEvent.Join(1, "u1", "p1", "n"));
    assertThat(store.saved).extracting(CommittedState::epoch).containsExactly(1L);
    assertThat(planned).extracting(CommittedState::epoch).containsExactly(1L);
    assertThat(seen).extracting(RankAssignment::epoch).containsExactly(1L);
  }
}
