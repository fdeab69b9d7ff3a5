package io.elasticmoe.operator.rendezvous;

import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_A;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.elasticmoe.api.rendezvous.v1alpha1.Assignment;
import io.elasticmoe.api.rendezvous.v1alpha1.Directive;
import io.elasticmoe.worker.rendezvous.RendezvousClient;
import io.elasticmoe.worker.rendezvous.RendezvousIdentity;
import io.elasticmoe.worker.store.StoreTimeoutException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The worker's RendezvousClient against the real services on an in-process transport. */
class RendezvousClientTest {
  private static final Duration WAIT = Duration.ofSeconds(20);
  private InProcessRendezvous rdzv;
  private final List<RendezvousClient> clients = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    rdzv = new InProcessRendezvous();
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.worldOf(TOKEN_A, 4));
  }

  @AfterEach
  void stop() throws Exception {
    clients.forEach(RendezvousClient::close);
    rdzv.close();
  }

  private RendezvousClient client(int rank, String token) {
    RendezvousIdentity id =
        new RendezvousIdentity("in-process", "team-a", "llm", rank, "uid-" + rank, "pod-" + rank, "node", token);
    RendezvousClient c = new RendezvousClient(rdzv.channel(), id, new SplittableRandom(rank));
    clients.add(c);
    return c;
  }

  private List<RendezvousClient> startWorld() throws Exception {
    List<RendezvousClient> world = new ArrayList<>();
    for (int r = 0; r < 4; r++) {
      RendezvousClient c = client(r, TOKEN_A);
      c.start();
      world.add(c);
    }
    for (RendezvousClient c : world) {
      Assignment a = c.awaitAssignment(x -> x.getDirective() == Directive.RUN, WAIT);
      assertThat(a.getEpoch()).isEqualTo(1);
      assertThat(a.getActiveRanksList()).containsExactly(0, 1, 2, 3);
    }
    return world;
  }

  @Test
  void clientsJoinWatchAndShareTheStore() throws Exception {
    List<RendezvousClient> world = startWorld();
    world.get(0).store().set("NIXL_EP/0", new byte[] {1, 2});
    assertThat(world.get(3).store().get("NIXL_EP/0", WAIT)).containsExactly(1, 2);
    assertThat(world.get(2).placement().getVersion()).isEqualTo(1);
  }

  @Test
  void clientsReattachAfterAnOperatorRestartWithoutANewEpoch() throws Exception {
    startWorld();
    rdzv.restartOperator();
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.worldOf(TOKEN_A, 4));
    // Each client saw its stream fail, backed off, joined again and re-opened its watch.
    await().atMost(WAIT).untilAsserted(
        () -> assertThat(rdzv.registry.membership(TEAM_A).watcherCount()).isEqualTo(4));
    assertThat(rdzv.registry.committed(TEAM_A).orElseThrow().epoch()).isEqualTo(1);
    for (RendezvousClient c : clients) {
      assertThat(c.assignment().orElseThrow().getEpoch()).isEqualTo(1);
    }
  }

  @Test
  void aDrainedClientLeavesAndTheOthersMoveOn() throws Exception {
    List<RendezvousClient> world = startWorld();
    rdzv.registry.upsert(TEAM_A, new RendezvousSpec(List.of(0, 1, 2), 1, 4, Duration.ofSeconds(2), 3,
        Duration.ofSeconds(120), io.elasticmoe.operator.rendezvous.grpc.DeploymentAuthInterceptor.sha256Hex(TOKEN_A),
        new PlacementConfig(4, 8, 1, 1, List.of(), PlacementConfig.DEFAULT_REBALANCE)));
    world.get(3).awaitAssignment(a -> a.getDirective() == Directive.DRAIN, WAIT);
    world.get(3).leave("scale down");
    for (int r = 0; r < 3; r++) {
      Assignment a = world.get(r).awaitAssignment(x -> x.getEpoch() == 2, WAIT);
      assertThat(a.getActiveRanksList()).containsExactly(0, 1, 2);
    }
    assertThat(world.get(3).awaitAssignment(a -> a.getDirective() == Directive.EXIT, WAIT).getRank()).isEqualTo(3);
  }

  @Test
  void aBlockingGetPastItsTimeoutIsAStoreTimeout() throws Exception {
    RendezvousClient c = client(0, TOKEN_A);
    StoreTimeoutException e =
        assertThrows(StoreTimeoutException.class, () -> c.store().get("never", Duration.ofMillis(50)));
    assertThat(e.keys()).containsExactly("never");
    assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isZero();
  }

  @Test
  void aWrongCredentialIsAPermanentFailure() throws Exception {
    RendezvousClient c = client(0, "not-the-token");
    c.start();
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> c.awaitAssignment(a -> true, WAIT));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
  }
}
