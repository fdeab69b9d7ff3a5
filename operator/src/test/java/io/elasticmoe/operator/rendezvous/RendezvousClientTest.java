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

  private double calls(String method, String code) {
    var timer = rdzv.meters.find("elasticmoe.rendezvous.calls").tags("method", method, "code", code).timer();
    return timer == null ? 0 : timer.count();
  }

  @Test
  void storeOperationsTravelOnSessionsNotUnaryCalls() throws Exception {
    RendezvousClient c = client(0, TOKEN_A);
    for (int i = 0; i < 5; i++) {
      c.store().set("k" + i, new byte[] {(byte) i});
      assertThat(c.store().get("k" + i, WAIT)).containsExactly(i);
    }
    assertThat(c.store().add("n", 2)).isEqualTo(2);
    assertThat(c.store().numKeys()).isEqualTo(6);
    assertThat(calls("Session/Set", "OK")).isEqualTo(5);
    assertThat(calls("Session/Get", "OK")).isEqualTo(5);
    assertThat(calls("Set", "OK") + calls("Get", "OK") + calls("Add", "OK")).isZero();
  }

  @Test
  void anOperationsErrorKeepsItsCodeDescriptionAndDetails() throws Exception {
    RendezvousClient c = client(0, TOKEN_A);
    c.store().set("t", "text".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> c.store().add("t", 1));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(e.getStatus().getDescription()).isEqualTo("store key 't' holds 4 bytes that are not a decimal 64-bit counter");
    assertThat(io.grpc.protobuf.StatusProto.fromThrowable(e).getDetails(0).unpack(com.google.rpc.ErrorInfo.class)
        .getReason()).isEqualTo("StoreValueNotCounter");
    // The session survived its operation's error.
    assertThat(c.store().add("n", 1)).isEqualTo(1);
  }

  @Test
  void aThreadBlockedInGetDoesNotHoldAnotherThreadsSet() throws Exception {
    RendezvousClient c = client(0, TOKEN_A);
    java.util.concurrent.ExecutorService reader = java.util.concurrent.Executors.newSingleThreadExecutor();
    try {
      var got = reader.submit(() -> c.store().get("late", WAIT));
      await().atMost(WAIT).untilAsserted(() -> assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isEqualTo(1));
      // With one shared session this set would queue behind the get forever: each caller has its own.
      c.store().set("late", new byte[] {7});
      assertThat(got.get(WAIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS)).containsExactly(7);
    } finally {
      reader.shutdownNow();
    }
  }

  @Test
  void aServerWithoutSessionsIsServedByUnaryCalls() throws Exception {
    // An older operator: the Store service without its Session method.
    String name = io.grpc.inprocess.InProcessServerBuilder.generateName();
    io.grpc.ServerServiceDefinition full = io.grpc.ServerInterceptors.intercept(
        new io.elasticmoe.operator.rendezvous.grpc.StoreService(rdzv.core, rdzv.metrics),
        new io.elasticmoe.operator.rendezvous.grpc.DeploymentAuthInterceptor(rdzv.registry));
    io.grpc.ServerServiceDefinition.Builder unaryOnly = io.grpc.ServerServiceDefinition.builder(
        full.getServiceDescriptor().getName());
    full.getMethods().stream()
        .filter(m -> !m.getMethodDescriptor().getBareMethodName().equals("Session"))
        .forEach(unaryOnly::addMethod);
    io.grpc.Server old = io.grpc.inprocess.InProcessServerBuilder.forName(name).directExecutor()
        .addService(unaryOnly.build()).build().start();
    try {
      RendezvousIdentity id = new RendezvousIdentity("in-process", "team-a", "llm", 0, "uid-0", "pod-0", "node", TOKEN_A);
      RendezvousClient c = new RendezvousClient(
          io.grpc.inprocess.InProcessChannelBuilder.forName(name).directExecutor().build(), id, new SplittableRandom(0));
      clients.add(c);
      c.store().set("k", new byte[] {1});
      assertThat(c.store().get("k", WAIT)).containsExactly(1);
      assertThat(c.store().add("n", 3)).isEqualTo(3);
      assertThat(calls("Set", "OK")).isEqualTo(1);
      assertThat(calls("Get", "OK")).isEqualTo(1);
      assertThat(calls("Add", "OK")).isEqualTo(1);
    } finally {
      old.shutdownNow();
    }
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
