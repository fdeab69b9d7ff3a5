package io.elasticmoe.operator.rendezvous;

import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_A;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.elasticmoe.api.rendezvous.v1alpha1.Directive;
import io.elasticmoe.worker.rendezvous.RendezvousClient;
import io.elasticmoe.worker.rendezvous.RendezvousIdentity;
import io.elasticmoe.worker.store.StoreTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * 64 RendezvousClients over real TCP (Netty, loopback) against one server: membership of a 64-rank
 * world, and the store patterns NIXL-EP relies on, each with every client taking part concurrently.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RendezvousNetworkTest {
  private static final int N = 64;
  private static final Duration WAIT = Duration.ofSeconds(60);
  private InProcessRendezvous rdzv;
  private final List<RendezvousClient> clients = new ArrayList<>();
  private ExecutorService threads;

  @BeforeAll
  void start() throws Exception {
    rdzv = new InProcessRendezvous();
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.worldOf(TOKEN_A, N));
    int port = rdzv.serveOnLoopback();
    for (int r = 0; r < N; r++) {
      clients.add(RendezvousClient.connect(new RendezvousIdentity(
          "127.0.0.1:" + port, "team-a", "llm", r, "uid-" + r, "pod-" + r, "node-" + r % 4, TOKEN_A)));
    }
    threads = Executors.newFixedThreadPool(N);
  }

  @AfterAll
  void stop() throws Exception {
    threads.shutdownNow();
    clients.forEach(RendezvousClient::close);
    rdzv.close();
  }

  /** Runs {@code body(rank)} on N threads at once and returns the results in rank order. */
  private <T> List<T> everyone(RankCall<T> body) throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    List<Future<T>> futures = new ArrayList<>();
    for (int r = 0; r < N; r++) {
      int rank = r;
      futures.add(threads.submit((Callable<T>) () -> {
        go.await();
        return body.call(rank, clients.get(rank));
      }));
    }
    go.countDown();
    List<T> results = new ArrayList<>();
    for (Future<T> f : futures) {
      results.add(f.get(WAIT.toSeconds(), TimeUnit.SECONDS));
    }
    return results;
  }

  @FunctionalInterface
  interface RankCall<T> {
    T call(int rank, RendezvousClient client) throws Exception;
  }

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void sixtyFourRanksJoinAndAllReceiveTheFirstEpoch() throws Exception {
    clients.forEach(RendezvousClient::start);
    List<Long> epochs = everyone((rank, c) ->
        c.awaitAssignment(a -> a.getDirective() == Directive.RUN, WAIT).getEpoch());
    assertThat(epochs).containsOnly(1L);
    assertThat(rdzv.registry.committed(TEAM_A).orElseThrow().worldSize()).isEqualTo(N);
  }

  @Test
  void aBarrierBuiltFromAddAndWaitReleasesAllSixtyFour() throws Exception {
    List<Long> arrivals = everyone((rank, c) -> {
      long arrived = c.store().add("barrier/1/count", 1);
      if (arrived == N) {
        c.store().set("barrier/1/done", b("1"));
      }
      c.store().await(List.of("barrier/1/done"), WAIT);
      return arrived;
    });
    assertThat(arrivals).containsExactlyInAnyOrderElementsOf(
        java.util.stream.LongStream.rangeClosed(1, N).boxed().toList());
  }

  @Test
  void compareSetRacesHaveExactlyOneWinner() throws Exception {
    List<Boolean> won = everyone((rank, c) -> {
      byte[] mine = b("rank-" + rank);
      return Arrays.equals(c.store().compareSet("leader", new byte[0], mine), mine);
    });
    assertThat(won.stream().filter(w -> w).count()).isEqualTo(1);
  }

  @Test
  void blockingGetsAreWokenByALaterSet() throws Exception {
    Future<List<byte[]>> readers = Executors.newSingleThreadExecutor().submit(() ->
        everyone((rank, c) -> rank == 0 ? b("writer") : c.store().get("go", WAIT)));
    await().atMost(WAIT).untilAsserted(
        () -> assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isEqualTo(N - 1));
    clients.get(0).store().set("go", b("now"));
    List<byte[]> got = readers.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    for (int r = 1; r < N; r++) {
      assertThat(got.get(r)).isEqualTo(b("now"));
    }
  }

  @Test
  void deadlinesAreHonouredAndLeaveNoWaiters() throws Exception {
    List<Long> waitedMillis = everyone((rank, c) -> {
      long start = System.nanoTime();
      assertThrows(StoreTimeoutException.class, () -> c.store().get("never/" + rank, Duration.ofMillis(200)));
      return (System.nanoTime() - start) / 1_000_000;
    });
    assertThat(waitedMillis).allSatisfy(ms -> assertThat(ms).isGreaterThanOrEqualTo(200));
    await().atMost(WAIT).untilAsserted(
        () -> assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isZero());
  }

  @Test
  void clientsKilledMidWaitLeaveNoWaiters() throws Exception {
    int port = Integer.parseInt(clients.get(0).identity().target().split(":")[1]);
    List<RendezvousClient> doomed = new ArrayList<>();
    for (int r = 0; r < N; r++) {
      doomed.add(RendezvousClient.connect(new RendezvousIdentity(
          "127.0.0.1:" + port, "team-a", "llm", r, "doomed-" + r, "p", "n", TOKEN_A)));
    }
    for (RendezvousClient c : doomed) {
      threads.submit(() -> c.store().get("never/killed", WAIT));
    }
    await().atMost(WAIT).untilAsserted(
        () -> assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isEqualTo(N));
    doomed.forEach(RendezvousClient::close);
    await().atMost(WAIT).untilAsserted(() -> {
      assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isZero();
      assertThat(rdzv.core.stats(TEAM_A.toString()).watchedKeys()).isZero();
    });
  }
}
