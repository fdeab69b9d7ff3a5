package io.elasticmoe.worker.cpu;

import io.elasticmoe.worker.runtime.AgreedWorld;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.DispatchResult;
import io.elasticmoe.worker.runtime.EpochSwitchStore;
import io.elasticmoe.worker.runtime.ObservedViews;
import io.elasticmoe.worker.runtime.PeerTimeoutException;
import io.elasticmoe.worker.runtime.RankRuntime;
import io.elasticmoe.worker.runtime.WorldView;
import io.elasticmoe.worker.store.DirectoryKeyValueStore;
import io.elasticmoe.worker.transport.UcxTransport;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One rank process of {@link EpochSwitchTest}: steps without pause while a membership file (one line per
 * assignment: {@code epoch ranks [drain:r,...]}, appended by the parent as the operator would announce
 * them) changes its world through {@link RankRuntime}. Every step is a checked dispatch + combine
 * ({@link EpCase}) over the world this rank is in, so a peer that stepped in another world fails the check.
 *
 * <p>Prints {@code SWITCH from to step}, {@code STEP id n} every 10 steps, {@code MASKED r id step} for
 * every timeout, then {@code DRAINED}, or {@code DONE} after {@code finalSteps} steps in a world of
 * epoch {@code finalEpoch}. Arguments: storeDir membershipFile rank interval finalEpoch finalSteps.
 */
public final class SwitchRank {

  static final int MAX_RANKS = 8;
  static final int LOCAL_EXPERTS = 2;
  static final int MAX_TOKENS = 16;
  static final int NUM_TOKENS = 8;
  static final int HIDDEN = 512;
  static final int TOPK = 4;
  static final Duration TIMEOUT = Duration.ofSeconds(10);

  public static void main(String[] args) throws Exception {
    Path storeDir = Path.of(args[0]);
    Path membership = Path.of(args[1]);
    int rank = Integer.parseInt(args[2]);
    int interval = Integer.parseInt(args[3]);
    long finalEpoch = Long.parseLong(args[4]);
    long finalSteps = Long.parseLong(args[5]);
    ObservedViews views = new ObservedViews();
    Thread watch = new Thread(() -> follow(membership, rank, views), "membership-" + rank);
    watch.setDaemon(true);
    watch.start();
    DispatchLayout layout = DispatchLayout.of(MAX_RANKS, LOCAL_EXPERTS, MAX_TOKENS, HIDDEN);
    try (DirectoryKeyValueStore store = new DirectoryKeyValueStore(storeDir);
        CpuDispatchBackend backend = new CpuDispatchBackend(
            layout, rank, store, TIMEOUT, Duration.ofSeconds(60), UcxTransport.HOST_TRANSPORTS)) {
      RankRuntime runtime = new RankRuntime(backend, new EpochSwitchStore(store, Duration.ofSeconds(60)), views,
          new RankRuntime.Settings(interval, Duration.ofMillis(50), Duration.ofMinutes(2)), System::nanoTime, s -> {
            System.out.println("SWITCH " + (s.from() == null ? "-" : s.from().id()) + " " + s.to().id() + " "
                + s.atStep() + (s.stayed() ? "" : " LEFT") + s.connectTimeout().map(e -> " CONNECT-TIMEOUT " + e.getMessage()).orElse(""));
            System.out.flush();
          });
      while (true) {
        RankRuntime.State state = runtime.beforeStep();
        if (state == RankRuntime.State.DRAINED || state == RankRuntime.State.EXITED) {
          System.out.println(state);
          return;
        }
        if (state == RankRuntime.State.IDLE) {
          LockSupport.parkNanos(10_000_000L);
          continue;
        }
        AgreedWorld world = runtime.world().orElseThrow();
        long step = runtime.steps() - 1;
        if (world.epoch() == finalEpoch && step == finalSteps) {
          System.out.println("DONE");
          return;
        }
        runStep(backend, world, step);
        for (PeerTimeoutException timeout : backend.takePeerTimeouts()) {
          System.out.println("MASKED " + timeout.rank() + " " + world.id() + " " + step);
        }
        if (step % 10 == 0) {
          System.out.println("STEP " + world.id() + " " + step + " " + System.currentTimeMillis());
        }
        System.out.flush();
      }
    }
  }

  /** One checked dispatch + combine; the case depends only on (world, step), so all members run the same. */
  private static void runStep(CpuDispatchBackend backend, AgreedWorld world, long step) {
    int seed = (int) (world.epoch() * 7919 + world.generation() * 131 + step);
    EpCase[] cases = EpCase.all(seed, NUM_TOKENS, HIDDEN, TOPK, MAX_RANKS * LOCAL_EXPERTS);
    EpCase c = cases[(int) (step % cases.length)];
    int rank = backend.rank();
    DispatchResult result = c.dispatch(backend);
    short[] y = c.checkDispatch(rank, world.ranks(), backend.queryMask(), result, LOCAL_EXPERTS, MAX_TOKENS);
    short[] out = backend.combine(y, c.topkIdx(rank), c.topkWeights(rank), result.handle());
    c.checkCombine(rank, world.ranks(), backend.queryMask(), out, LOCAL_EXPERTS);
  }

  /**
   * The Watch stream of this test: every new line of the membership file that names this rank, seen
   * {@code 150 ms × rank} after it appeared, so that ranks learn of a change at different steps, as pods
   * behind different network paths do.
   */
  private static void follow(Path membership, int rank, ObservedViews views) {
    long lagNanos = TimeUnit.MILLISECONDS.toNanos(150L * rank);
    List<Long> appeared = new ArrayList<>();
    int delivered = 0;
    while (true) {
      try {
        List<String> lines = Files.readAllLines(membership);
        while (appeared.size() < lines.size()) {
          appeared.add(System.nanoTime());
        }
        for (; delivered < lines.size() && System.nanoTime() - appeared.get(delivered) >= lagNanos; delivered++) {
          String[] fields = lines.get(delivered).trim().split(" ");
          int[] ranks = Arrays.stream(fields[1].split(",")).mapToInt(Integer::parseInt).toArray();
          boolean draining = fields.length > 2 && Arrays.stream(fields[2].substring("drain:".length()).split(","))
              .mapToInt(Integer::parseInt).anyMatch(r -> r == rank);
          if (Arrays.stream(ranks).anyMatch(r -> r == rank)) {
            views.add(new WorldView(Long.parseLong(fields[0]), ranks,
                draining ? WorldView.Directive.DRAIN : WorldView.Directive.RUN));
          }
        }
      } catch (NoSuchFileException e) {
        // Not written yet.
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      LockSupport.parkNanos(10_000_000L);
    }
  }
}
