package io.elasticmoe.worker.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.store.DirectoryKeyValueStore;
import io.elasticmoe.worker.runtime.DispatchResult;
import io.elasticmoe.worker.runtime.PeerTimeoutException;
import io.elasticmoe.worker.transport.UcxTransport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Several ranks in one JVM, one thread each, over real UCX on loopback. */
class CpuDispatchBackendTest {

  private static final int MAX_RANKS = 4;
  private static final int LOCAL_EXPERTS = 2;
  private static final int MAX_TOKENS = 16;
  private static final int HIDDEN = 512;
  private static final DispatchLayout LAYOUT = DispatchLayout.of(MAX_RANKS, LOCAL_EXPERTS, MAX_TOKENS, HIDDEN);

  @TempDir Path storeDir;

  private interface RankBody {
    List<PeerTimeoutException> run(CpuDispatchBackend backend) throws Exception;
  }

  private List<List<PeerTimeoutException>> runRanks(int[] world, Duration timeout, RankBody body) throws Exception {
    return runRanks(world, rank -> timeout, body);
  }

  private List<List<PeerTimeoutException>> runRanks(
      int[] world, java.util.function.IntFunction<Duration> timeoutOfRank, RankBody body) throws Exception {
    return runRanks(world, timeoutOfRank, UcxTransport.HOST_TRANSPORTS, body);
  }

  private List<List<PeerTimeoutException>> runRanks(
      int[] world, java.util.function.IntFunction<Duration> timeoutOfRank, String transports, RankBody body)
      throws Exception {
    return runRanks(world, timeoutOfRank, transports, 1, body);
  }

  private List<List<PeerTimeoutException>> runRanks(
      int[] world, java.util.function.IntFunction<Duration> timeoutOfRank, String transports, int computeThreads,
      RankBody body) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(world.length);
    try {
      List<Future<List<PeerTimeoutException>>> futures = new ArrayList<>();
      for (int rank : world) {
        futures.add(pool.submit(() -> {
          try (DirectoryKeyValueStore store = new DirectoryKeyValueStore(storeDir);
              CpuDispatchBackend backend = new CpuDispatchBackend(
                  LAYOUT, rank, store, timeoutOfRank.apply(rank), Duration.ofSeconds(60), transports,
                  computeThreads)) {
            backend.connect(0, world, world, true);
            return body.run(backend);
          }
        }));
      }
      List<List<PeerTimeoutException>> results = new ArrayList<>();
      for (Future<List<PeerTimeoutException>> future : futures) {
        results.add(future.get(120, TimeUnit.SECONDS));
      }
      return results;
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void everyRankReceivesExactlyItsTokensAndCombinesThemBack() throws Exception {
    everyRankReceivesExactlyItsTokensAndCombinesThemBack(1);
  }

  /**
   * The cast, the row copies, the puts (each thread on its own UCX lane) and the reduction split over
   * threads give the same bits as one thread.
   */
  @Test
  void severalComputeThreadsGiveTheSameResults() throws Exception {
    everyRankReceivesExactlyItsTokensAndCombinesThemBack(3);
  }

  private void everyRankReceivesExactlyItsTokensAndCombinesThemBack(int computeThreads) throws Exception {
    int[] world = {0, 1, 2, 3};
    runRanks(world, rank -> Duration.ofSeconds(30), UcxTransport.HOST_TRANSPORTS, computeThreads, backend -> {
      for (EpCase c : EpCase.all(3, 12, HIDDEN, 4, MAX_RANKS * LOCAL_EXPERTS)) {
        DispatchResult result = c.dispatch(backend);
        int[] mask = backend.queryMask();
        short[] y = c.checkDispatch(backend.rank(), world, mask, result, LOCAL_EXPERTS, MAX_TOKENS);
        short[] out = backend.combine(y, c.topkIdx(backend.rank()), c.topkWeights(backend.rank()), result.handle());
        c.checkCombine(backend.rank(), world, backend.queryMask(), out, LOCAL_EXPERTS);
        assertThat(backend.queryMask()).containsOnly(0);
      }
      return backend.takePeerTimeouts();
    }).forEach(timeouts -> assertThat(timeouts).isEmpty());
  }

  @Test
  void silentPeerIsMaskedWithinTheTimeoutAndReported() throws Exception {
    int[] world = {0, 1, 2};
    EpCase c = new EpCase(5, true, true, false, 8, HIDDEN, 4, MAX_RANKS * LOCAL_EXPERTS);
    CountDownLatch survivorsDone = new CountDownLatch(2);
    List<List<PeerTimeoutException>> timeouts = runRanks(world, Duration.ofMillis(3000), backend -> {
      if (backend.rank() == 2) {
        // Connected and alive, but never dispatches: the survivors must not hang on it.
        survivorsDone.await();
        return List.of();
      }
      long start = System.nanoTime();
      DispatchResult result = c.dispatch(backend);
      int[] mask = backend.queryMask();
      assertThat(mask[2]).isEqualTo(1);
      short[] y = c.checkDispatch(backend.rank(), new int[] {0, 1}, mask, result, LOCAL_EXPERTS, MAX_TOKENS);
      short[] out = backend.combine(y, c.topkIdx(backend.rank()), c.topkWeights(backend.rank()), result.handle());
      c.checkCombine(backend.rank(), new int[] {0, 1}, backend.queryMask(), out, LOCAL_EXPERTS);
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(20));
      survivorsDone.countDown();
      return backend.takePeerTimeouts();
    });
    for (int rank : new int[] {0, 1}) {
      assertThat(timeouts.get(rank)).singleElement().satisfies(t -> {
        assertThat(t.rank()).isEqualTo(2);
        assertThat(t.waitedMillis()).isGreaterThanOrEqualTo(3000);
      });
    }
  }

  @Test
  void survivorHeldUpByASilentRankIsNotMaskedByRanksWaitingOnIt() throws Exception {
    // Rank 1 spends its 4 s timeout detecting silent rank 2; rank 0 already knows rank 2 is gone, so it
    // reaches combine at once and then waits ~4 s for rank 1's flags, twice its own 2 s timeout. Rank 1's
    // liveness word keeps moving meanwhile, so rank 0 must wait for it rather than mask it.
    int[] world = {0, 1, 2};
    int[] survivors = {0, 1};
    EpCase c = new EpCase(7, true, true, false, 8, HIDDEN, 4, MAX_RANKS * LOCAL_EXPERTS);
    CountDownLatch survivorsDone = new CountDownLatch(2);
    List<List<PeerTimeoutException>> timeouts = runRanks(world,
        rank -> rank == 0 ? Duration.ofSeconds(2) : Duration.ofSeconds(4),
        backend -> {
          if (backend.rank() == 2) {
            survivorsDone.await();
            return List.of();
          }
          if (backend.rank() == 0) {
            backend.updateMask(2, true);
          }
          DispatchResult result = c.dispatch(backend);
          short[] y = c.checkDispatch(backend.rank(), survivors, backend.queryMask(), result, LOCAL_EXPERTS, MAX_TOKENS);
          short[] out = backend.combine(y, c.topkIdx(backend.rank()), c.topkWeights(backend.rank()), result.handle());
          c.checkCombine(backend.rank(), survivors, backend.queryMask(), out, LOCAL_EXPERTS);
          assertThat(backend.queryMask()).containsExactly(0, 0, 1, 0);
          survivorsDone.countDown();
          return backend.takePeerTimeouts();
        });
    assertThat(timeouts.get(0)).as("rank 0 masked nobody itself").isEmpty();
    assertThat(timeouts.get(1)).singleElement().satisfies(t -> assertThat(t.rank()).isEqualTo(2));
  }

  @Test
  void twoLiveRanksWaitingOnEachOtherMaskEachOtherInsteadOfHanging() throws Exception {
    // A step mismatch: rank 0 dispatches again while rank 1 combines, so each waits for a signal the other
    // never sends, and both keep their liveness words moving. The wait cap must end it.
    int[] world = {0, 1};
    EpCase c = new EpCase(9, true, true, false, 8, HIDDEN, 4, 2 * LOCAL_EXPERTS);
    Duration timeout = Duration.ofSeconds(1);
    long start = System.nanoTime();
    List<List<PeerTimeoutException>> timeouts = runRanks(world, timeout, backend -> {
      DispatchResult result = c.dispatch(backend);
      if (backend.rank() == 0) {
        c.dispatch(backend);
      } else {
        short[] y = c.checkDispatch(1, world, backend.queryMask(), result, LOCAL_EXPERTS, MAX_TOKENS);
        backend.combine(y, c.topkIdx(1), c.topkWeights(1), result.handle());
      }
      return backend.takePeerTimeouts();
    });
    assertThat(timeouts.get(0)).singleElement().satisfies(t -> assertThat(t.rank()).isEqualTo(1));
    assertThat(timeouts.get(1)).singleElement().satisfies(t -> assertThat(t.rank()).isEqualTo(0));
    assertThat(Duration.ofNanos(System.nanoTime() - start))
        .isLessThan(timeout.multipliedBy(CpuDispatchBackend.MAX_WAIT_TIMEOUTS + 10));
  }

  @Test
  void aPeerMaskedByOneSideIsUnmaskedAtTheNextEpochAndBothDirectionsKeepWorkingOverTcp() throws Exception {
    // Rank 0 once took live rank 1 for dead (a timeout under load). At the next epoch both ranks go through
    // connect: rank 1's metadata names the same process, so rank 0 keeps its endpoint and unmasks it, and
    // rank 1's endpoint to rank 0 stays intact. Over tcp, a one-sided reconnect broke the other side's
    // endpoint (the two ranks then masked each other for the whole epoch).
    int[] world = {0, 1};
    EpCase c = new EpCase(11, true, true, false, 8, HIDDEN, 4, 2 * LOCAL_EXPERTS);
    List<List<PeerTimeoutException>> timeouts = runRanks(world, rank -> Duration.ofSeconds(20), UcxTransport.NETWORK_TRANSPORTS,
        backend -> {
          if (backend.rank() == 0) {
            backend.updateMask(1, true);
          }
          backend.connect(1, new int[] {1 - backend.rank()}, world, true);
          assertThat(backend.queryMask()).containsOnly(0);
          for (int step = 0; step < 3; step++) {
            DispatchResult result = c.dispatch(backend);
            short[] y = c.checkDispatch(backend.rank(), world, backend.queryMask(), result, LOCAL_EXPERTS, MAX_TOKENS);
            short[] out = backend.combine(y, c.topkIdx(backend.rank()), c.topkWeights(backend.rank()), result.handle());
            c.checkCombine(backend.rank(), world, backend.queryMask(), out, LOCAL_EXPERTS);
          }
          assertThat(backend.queryMask()).containsOnly(0);
          return backend.takePeerTimeouts();
        });
    timeouts.forEach(t -> assertThat(t).isEmpty());
  }

  @Test
  void aRankThatGoesFromItsLastStepIntoALongStoreWaitStillLetsItsPeersFinishOverTcp() throws Exception {
    // Over tcp (what rank pods use), a peer's final flush completes only when this rank acknowledges the
    // puts. Rank 1 goes straight from its steps into connect for the next epoch, whose barrier waits for
    // rank 0; rank 0 gets there 3 s later (its own work), past its 2 s timeout. Rank 1 must keep
    // acknowledging meanwhile, or rank 0 masks it.
    int[] world = {0, 1};
    EpCase c = new EpCase(13, true, true, false, 8, HIDDEN, 4, 2 * LOCAL_EXPERTS);
    List<List<PeerTimeoutException>> timeouts = runRanks(world, rank -> Duration.ofSeconds(2), "tcp,self",
        backend -> {
          for (int step = 0; step < 4; step++) {
            DispatchResult result = c.dispatch(backend);
            short[] y = c.checkDispatch(backend.rank(), world, backend.queryMask(), result, LOCAL_EXPERTS, MAX_TOKENS);
            backend.combine(y, c.topkIdx(backend.rank()), c.topkWeights(backend.rank()), result.handle());
          }
          List<PeerTimeoutException> seen = backend.takePeerTimeouts();
          if (backend.rank() == 0) {
            Thread.sleep(3000);
          }
          backend.connect(1, new int[] {1 - backend.rank()}, world, true);
          return seen;
        });
    timeouts.forEach(t -> assertThat(t).isEmpty());
  }

  @Test
  void rejectsBadInputBeforeAnyTransfer() throws Exception {
    try (DirectoryKeyValueStore store = new DirectoryKeyValueStore(Files.createDirectories(storeDir.resolve("solo")));
        CpuDispatchBackend backend = new CpuDispatchBackend(LAYOUT, 0, store, Duration.ofSeconds(1), Duration.ofSeconds(1), UcxTransport.HOST_TRANSPORTS)) {
      short[] x = new short[4 * HIDDEN];
      int[] topk = IntStream.range(0, 4 * 2).map(i -> i % 8).toArray();
      int e = MAX_RANKS * LOCAL_EXPERTS;
      assertThatThrownBy(() -> backend.dispatch(new short[3], 4, topk, 2, e, false, false))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("x has 3 elements");
      assertThatThrownBy(() -> backend.dispatch(new short[17 * HIDDEN], 17, new int[34], 2, e, false, false))
          .hasMessageContaining("numTokens is 17").hasMessageContaining("at most 16");
      assertThatThrownBy(() -> backend.dispatch(x, 4, new int[4 * 17], 17, e, false, false))
          .hasMessageContaining("numTopk is 17").hasMessageContaining("MAX_TOPK");
      assertThatThrownBy(() -> backend.dispatch(x, 4, new int[5], 2, e, false, false))
          .hasMessageContaining("topkIdx has 5 elements");
      assertThatThrownBy(() -> backend.dispatch(x, 4, topk, 2, 7, false, false))
          .hasMessageContaining("numExperts is 7").hasMessageContaining("multiple of the 2 local experts");
      assertThatThrownBy(() -> backend.dispatch(x, 4, topk, 2, 10, false, false))
          .hasMessageContaining("R_b = 5").hasMessageContaining("room for 4");
      int[] badExpert = topk.clone();
      badExpert[3] = 8;
      assertThatThrownBy(() -> backend.dispatch(x, 4, badExpert, 2, e, false, false))
          .hasMessageContaining("topkIdx[1,1] is 8");
      assertThatThrownBy(() -> backend.dispatch(x, 4, topk, 2, e, false, true))
          .hasMessageContaining("roundScale is true but useFp8 is false");
      DispatchResult ok = backend.dispatch(new short[0], 0, new int[0], 2, 2, false, false);
      assertThatThrownBy(() -> backend.combine(new short[5], new int[0], new float[0], ok.handle()))
          .hasMessageContaining("y has 5 elements").hasMessageContaining("R_b = 1");
    }
    try (DirectoryKeyValueStore store = new DirectoryKeyValueStore(storeDir);
        CpuDispatchBackend narrow = new CpuDispatchBackend(
            DispatchLayout.of(4, 2, 16, 256), 0, store, Duration.ofSeconds(1), Duration.ofSeconds(1), UcxTransport.HOST_TRANSPORTS)) {
      assertThatThrownBy(() -> narrow.dispatch(new short[256], 1, new int[] {0}, 1, 8, true, false))
          .hasMessageContaining("hidden is 256").hasMessageContaining("multiple of 512");
    }
  }
}
