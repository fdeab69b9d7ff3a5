package io.elasticmoe.worker.cpu;

import com.google.protobuf.InvalidProtocolBufferException;
import io.elasticmoe.placement.ExpertPlacement;
import io.elasticmoe.placement.ExpertPlacementPlanner;
import io.elasticmoe.placement.PlacementRequest;
import io.elasticmoe.worker.moe.MoeLayer;
import io.elasticmoe.worker.moe.MoeLayerTest;
import io.elasticmoe.worker.moe.PlacementDecoder;
import io.elasticmoe.worker.moe.TopkRouter;
import io.elasticmoe.worker.runtime.AgreedWorld;
import io.elasticmoe.worker.runtime.Bf16;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.DispatchResult;
import io.elasticmoe.worker.runtime.EpochSwitchStore;
import io.elasticmoe.worker.runtime.ObservedPlacement;
import io.elasticmoe.worker.runtime.ObservedViews;
import io.elasticmoe.worker.runtime.PeerTimeoutException;
import io.elasticmoe.worker.runtime.RankRuntime;
import io.elasticmoe.worker.runtime.WorldView;
import io.elasticmoe.worker.store.DirectoryKeyValueStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One rank process of {@link EpochSwitchTest}: steps without pause while a membership file (one line per
 * assignment: {@code epoch ranks [drain:r,...]}, or per placement the operator publishes:
 * {@code placement version epoch ranks}, appended by the parent as the operator would announce them)
 * changes its world through {@link RankRuntime}. In mode {@code ep} every step is a checked dispatch +
 * combine ({@link EpCase}) over the world this rank is in, so a peer that stepped in another world fails
 * the check. In mode {@code moe} every step is the synthetic MoE layer routing by the world's placement,
 * checked against the single-process reference: a peer routing by another placement computes other
 * experts for this rank's tokens and fails the check.
 *
 * <p>Prints {@code SWITCH from to step vPlacement}, {@code INSTALLED version phy2log},
 * {@code STEP id n} every 10 steps, {@code MASKED r id step} for every timeout, then {@code DRAINED},
 * or {@code DONE} after {@code finalSteps} steps in a world of epoch {@code finalEpoch}. Arguments:
 * storeDir membershipFile rank interval finalEpoch finalSteps mode transports (UCX_TLS).
 */
public final class SwitchRank {

  static final int MAX_RANKS = 8;
  static final int LOCAL_EXPERTS = 2;
  static final int MAX_TOKENS = 16;
  static final int NUM_TOKENS = 8;
  static final int HIDDEN = 512;
  static final int TOPK = 4;
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  static final int LOGICAL_EXPERTS = 6;
  static final int INTERMEDIATE = 64;
  static final long SEED = 3;
  /** bf16 dispatch: the EP output matches the fp32 reference to this (MoeLayerTest's bound). */
  static final double MAX_CALC_DIFF = 1e-4;

  public static void main(String[] args) throws Exception {
    Path storeDir = Path.of(args[0]);
    Path membership = Path.of(args[1]);
    int rank = Integer.parseInt(args[2]);
    int interval = Integer.parseInt(args[3]);
    long finalEpoch = Long.parseLong(args[4]);
    long finalSteps = Long.parseLong(args[5]);
    boolean moe = args[6].equals("moe");
    ObservedViews views = new ObservedViews();
    Thread watch = new Thread(() -> follow(membership, rank, views), "membership-" + rank);
    watch.setDaemon(true);
    watch.start();
    DispatchLayout layout = DispatchLayout.of(MAX_RANKS, LOCAL_EXPERTS, MAX_TOKENS, HIDDEN);
    try (DirectoryKeyValueStore store = new DirectoryKeyValueStore(storeDir);
        CpuDispatchBackend backend = new CpuDispatchBackend(
            layout, rank, store, TIMEOUT, Duration.ofSeconds(60), args[7])) {
      TopkRouter router = new TopkRouter(HIDDEN, LOGICAL_EXPERTS, TOPK, SEED);
      MoeLayer[] layer = new MoeLayer[1]; // built from the first world's placement
      RankRuntime runtime = new RankRuntime(backend, new EpochSwitchStore(store, Duration.ofSeconds(60)), views,
          new RankRuntime.Settings(interval, Duration.ofMillis(50), Duration.ofMinutes(2)), System::nanoTime, s -> {
            s.placement().ifPresent(encoded -> {
              ExpertPlacement placement = decode(encoded);
              if (layer[0] == null) {
                layer[0] = new MoeLayer(backend, router, INTERMEDIATE, SEED, false, placement, 0);
              } else {
                layer[0].updatePlacement(placement, 0);
              }
              System.out.println("INSTALLED " + s.to().placementVersion() + " " + Arrays.toString(placement.phy2log()[0]));
            });
            System.out.println("SWITCH " + (s.from() == null ? "-" : s.from().id()) + " " + s.to().id() + " "
                + s.atStep() + " v" + s.to().placementVersion() + (s.stayed() ? "" : " LEFT")
                + s.connectTimeout().map(e -> " CONNECT-TIMEOUT " + e.getMessage()).orElse(""));
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
          runtime.finish();
          System.out.println("DONE");
          return;
        }
        if (moe) {
          runMoeStep(backend, layer[0], router, world, step);
        } else {
          runStep(backend, world, step);
        }
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
   * One MoE layer step on tokens that depend on (rank, world, step), checked against the single-process
   * reference over the experts the world's live ranks host under this rank's placement.
   */
  private static void runMoeStep(CpuDispatchBackend backend, MoeLayer layer, TopkRouter router, AgreedWorld world, long step) {
    if (layer == null) {
      throw new IllegalStateException("world " + world + " routes by no placement; mode moe needs one");
    }
    Random random = new Random(world.epoch() * 1_000_003L + world.generation() * 7_919L + step * 31L + backend.rank());
    short[] x = new short[NUM_TOKENS * HIDDEN];
    for (int i = 0; i < x.length; i++) {
      x[i] = Bf16.fromFloat((float) random.nextGaussian());
    }
    short[] out = layer.forward(x, NUM_TOKENS);
    int[] physical = layer.physicalIdx(router.route(x, NUM_TOKENS).logicalIdx(), TOPK);
    int[] mask = backend.queryMask();
    boolean[] live = new boolean[MAX_RANKS];
    Arrays.stream(world.ranks()).forEach(r -> live[r] = mask[r] == 0);
    short[] reference = MoeLayer.reference(x, NUM_TOKENS, HIDDEN, router, INTERMEDIATE, SEED, physical, LOCAL_EXPERTS, live);
    double diff = MoeLayerTest.calcDiff(out, reference);
    if (!(diff < MAX_CALC_DIFF)) {
      throw new IllegalStateException("rank " + backend.rank() + " step " + step + " of " + world
          + ": calc_diff " + diff + " against the reference");
    }
  }

  /**
   * The operator's plan of {@code version} over {@code ranks}, as the Placement service sends it: load
   * skewed to expert {@code version mod LOGICAL_EXPERTS}, so each version places the experts differently.
   */
  static byte[] placement(long version, long epoch, int[] ranks) {
    double[][] load = new double[1][LOGICAL_EXPERTS];
    for (int e = 0; e < LOGICAL_EXPERTS; e++) {
      load[0][e] = 1 + e + (e == version % LOGICAL_EXPERTS ? 50 : 0);
    }
    List<Integer> active = Arrays.stream(ranks).sorted().boxed().toList();
    ExpertPlacement plan = new ExpertPlacementPlanner().plan(
        new PlacementRequest(load, MAX_RANKS * LOCAL_EXPERTS, 1, 1, MAX_RANKS, active, List.of()));
    int maxReplicas = plan.log2phy()[0][0].length;
    var message = io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement.newBuilder()
        .setVersion(version).setEpoch(epoch).setNumLayers(1).setNumLogicalExperts(LOGICAL_EXPERTS)
        .setNumPhysicalExperts(MAX_RANKS * LOCAL_EXPERTS).setSlotsPerRank(LOCAL_EXPERTS).setMaxReplicas(maxReplicas)
        .addAllActiveRanks(active);
    Arrays.stream(plan.phy2log()[0]).forEach(message::addPhy2Log);
    Arrays.stream(plan.log2phy()[0]).flatMapToInt(Arrays::stream).forEach(message::addLog2Phy);
    Arrays.stream(plan.logcnt()[0]).forEach(message::addLogcnt);
    return message.build().toByteArray();
  }

  private static ExpertPlacement decode(byte[] encoded) {
    try {
      return PlacementDecoder.decode(io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement.parseFrom(encoded));
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException(e);
    }
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
          if (fields[0].equals("placement")) {
            long version = Long.parseLong(fields[1]);
            long epoch = Long.parseLong(fields[2]);
            int[] over = Arrays.stream(fields[3].split(",")).mapToInt(Integer::parseInt).toArray();
            views.addPlacement(new ObservedPlacement(version, epoch, placement(version, epoch, over)));
            continue;
          }
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
