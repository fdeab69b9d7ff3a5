package io.elasticmoe.worker.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import io.elasticmoe.api.rendezvous.v1alpha1.Assignment;
import io.elasticmoe.api.rendezvous.v1alpha1.Directive;
import io.elasticmoe.placement.ExpertPlacement;
import io.elasticmoe.placement.ExpertPlacementPlanner;
import io.elasticmoe.placement.PlacementRequest;
import io.elasticmoe.worker.cpu.CpuDispatchBackend;
import io.elasticmoe.worker.cpu.LoopbackWarmup;
import io.elasticmoe.worker.cuda.BackendChoice;
import io.elasticmoe.worker.cuda.CudaDispatchBackend;
import io.elasticmoe.worker.cuda.GpuProbe;
import io.elasticmoe.worker.moe.LoadDriver;
import io.elasticmoe.worker.moe.MoeLayer;
import io.elasticmoe.worker.moe.PlacementDecoder;
import io.elasticmoe.worker.moe.TopkRouter;
import io.elasticmoe.worker.runtime.DispatchBackend;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.EpochSwitchStore;
import io.elasticmoe.worker.runtime.ObservedPlacement;
import io.elasticmoe.worker.runtime.ObservedViews;
import io.elasticmoe.worker.runtime.PeerTimeoutException;
import io.elasticmoe.worker.runtime.RankRuntime;
import io.elasticmoe.worker.runtime.WorldView;
import io.elasticmoe.worker.rendezvous.RendezvousClient;
import io.elasticmoe.worker.store.DirectoryKeyValueStore;
import io.elasticmoe.worker.store.KeyValueStore;
import io.elasticmoe.worker.transport.UcxTransport;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code elasticmoe run}: what one rank executes. It builds the data plane ({@code --backend}: the CPU
 * backend over UCX, or the CUDA backend on one GPU, chosen by {@link BackendChoice}) and the synthetic MoE
 * layer, joins its world and drives load, printing per-interval latency, per-slot load and every peer
 * it masked. With {@code --store-dir} it runs a static world on one host; otherwise it joins the
 * rendezvous and follows the Watch stream through {@link RankRuntime}.
 */
@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    description = {
      "Runs one EP rank: data plane (--backend cpu|cuda|auto) plus a synthetic MoE layer under seeded load.",
      "Start one process per rank of --world with the same --store-dir (single host, no operator)."
    })
public final class RunCommand implements Callable<Integer> {

  private static final Logger LOG = Logger.getLogger(RunCommand.class.getName());

  /** How long a rank without a world waits between looks for one. */
  private static final Duration IDLE_POLL = Duration.ofMillis(20);

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--rank", defaultValue = "-1", description = "This rank (static mode; from EMD_RANK otherwise).")
  int rank;

  @Option(names = "--world", split = ",", description = "Active ranks, e.g. 0,1,2,3 (static mode).")
  int[] world;

  @Option(names = "--store-dir", description = {
      "Static mode: a new, empty directory shared by the ranks of --world on this host (the first rank to",
      "arrive founds the world there; a directory left by an earlier run names a world that is over).",
      "Without it the rank follows the rendezvous (EMD_RENDEZVOUS, EMD_RANK, EMD_TOKEN, ... as set on rank pods)."})
  Path storeDir;

  @Option(names = "--max-ranks", defaultValue = "4", description = "Buffer capacity in ranks (default: ${DEFAULT-VALUE}).")
  int maxRanks;

  @Option(names = "--slots-per-rank", defaultValue = "4", description = "Physical expert slots per rank (default: ${DEFAULT-VALUE}).")
  int slotsPerRank;

  @Option(names = "--logical-experts", defaultValue = "12", description = "Logical experts (default: ${DEFAULT-VALUE}).")
  int logicalExperts;

  @Option(names = "--hidden", defaultValue = "${env:EMD_HIDDEN:-512}", description = "Hidden size (default: ${DEFAULT-VALUE}).")
  int hidden;

  @Option(names = "--intermediate", defaultValue = "256", description = "Expert FFN size (default: ${DEFAULT-VALUE}).")
  int intermediate;

  @Option(names = "--tokens", defaultValue = "${env:EMD_MAX_DISPATCH_TOKENS_PER_RANK:-32}", description = "Tokens per rank per step (default: ${DEFAULT-VALUE}).")
  int tokens;

  @Option(names = "--topk", defaultValue = "${env:EMD_TOPK:-4}", description = "Experts per token (default: ${DEFAULT-VALUE}).")
  int topk;

  @Option(names = "--dispatch-dtype", defaultValue = "${env:EMD_DISPATCH_DTYPE:-fp8}", description = "fp8 or bf16 (default: ${DEFAULT-VALUE}).")
  String dispatchDtype;

  @Option(names = "--steps", defaultValue = "0",
      description = "Steps to run; 0 = until the rendezvous says EXIT or DRAIN (static mode: 100).")
  int steps;

  @Option(names = "--report-every", defaultValue = "20", description = "Steps between reports (default: ${DEFAULT-VALUE}).")
  int reportEvery;

  @Option(names = "--timeout-ms", defaultValue = "5000", description = "Data-plane timeout before a peer is masked (default: ${DEFAULT-VALUE}).")
  long timeoutMillis;

  @Option(names = "--connect-timeout-ms", defaultValue = "60000",
      description = "Bound on a connect's metadata exchange and barrier; a rank that never arrives is left out (default: ${DEFAULT-VALUE}).")
  long connectTimeoutMillis;

  @Option(names = "--switch-interval", defaultValue = "16",
      description = "Steps between the checkpoints where all ranks agree on switching to a new world (default: ${DEFAULT-VALUE}).")
  int switchInterval;

  @Option(names = "--transports", defaultValue = "${env:UCX_TLS:-" + UcxTransport.HOST_TRANSPORTS + "}", description = "UCX_TLS (default: ${DEFAULT-VALUE}).")
  String transports;

  @Option(names = "--backend", defaultValue = "${env:EMD_BACKEND:-cpu}", description = {
      "Data plane: cpu (UCX), cuda (one GPU; refused with the reason where no driver or device is usable) or",
      "auto (cuda where a GPU is usable, else cpu with a note why). Default: EMD_BACKEND as set on rank pods, else cpu."})
  String backendName;

  @Option(names = "--gpu", defaultValue = "-1",
      description = "CUDA device ordinal for --backend cuda|auto (default: rank %% number of visible devices).")
  int gpu;

  @Option(names = "--warmup-ms", defaultValue = "${env:EMD_WARMUP_MS:-3000}", description = {
      "cpu backend: before joining, run dispatch and combine steps this long in a world of this rank alone, so",
      "the JIT has compiled the data plane's loops by the first real step and a joining rank does not hold its",
      "world back (they run 20-40x slower until then); 0 = not. Default: EMD_WARMUP_MS, else ${DEFAULT-VALUE}."})
  long warmupMillis;

  @Option(names = "--seed", defaultValue = "1", description = "Seed of router, experts and load (default: ${DEFAULT-VALUE}).")
  long seed;

  @Override
  public Integer call() throws Exception {
    validateModel();
    if (storeDir == null) {
      warmUpAlone(spec.commandLine().getOut());
      return runWithRendezvous(spec.commandLine().getOut());
    }
    validateStatic();
    warmUpAlone(spec.commandLine().getOut());
    if (steps == 0) {
      steps = 100;
    }
    PrintWriter out = spec.commandLine().getOut();
    Files.createDirectories(storeDir);
    DispatchLayout layout = DispatchLayout.of(maxRanks, slotsPerRank, tokens, hidden);
    ExpertPlacement placement = uniformPlacement();
    try (DirectoryKeyValueStore store = new DirectoryKeyValueStore(storeDir);
        DispatchBackend backend = openBackend(layout, store, out)) {
      ObservedViews views = new ObservedViews();
      views.add(new WorldView(0, world, WorldView.Directive.RUN));
      TopkRouter router = new TopkRouter(hidden, logicalExperts, topk, seed);
      MoeLayer layer = new MoeLayer(backend, router, intermediate, seed, dispatchDtype.equals("fp8"), placement, 0);
      // No operator re-plans here: every rank routes by the same uniform plan over --world (version 0).
      RankRuntime runtime = runtime(backend, store, views, layer, out);
      out.printf("rank=%d epoch=0 connecting to world %s%n", rank, Arrays.toString(world));
      out.flush();
      LoadDriver driver = new LoadDriver(layer, rank, tokens, hidden, seed);
      List<Long> window = new ArrayList<>();
      long idleSince = System.nanoTime();
      for (int s = 0; s < steps; ) {
        if (runtime.beforeStep() != RankRuntime.State.RUNNING) {
          if (System.nanoTime() - idleSince > Duration.ofMillis(connectTimeoutMillis).toNanos()) {
            throw new IllegalStateException("rank " + rank + " found no world of "
                + Arrays.toString(world) + " in --store-dir " + storeDir + " within " + connectTimeoutMillis
                + " ms: start every rank of --world with the same new, empty directory");
          }
          Thread.sleep(IDLE_POLL.toMillis());
          continue;
        }
        window.add(step(driver));
        s++;
        for (PeerTimeoutException timeout : backend.takePeerTimeouts()) {
          out.printf("rank=%d epoch=%d masked rank %d after %d ms%n", rank, timeout.epoch(), timeout.rank(), timeout.waitedMillis());
        }
        if (window.size() == reportEvery || s == steps) {
          report(out, runtime, s, window, layer.takeLocalLoad(), backend.queryMask());
        }
      }
      runtime.finish();
    }
    return 0;
  }

  private ExpertPlacement uniformPlacement() {
    double[][] load = new double[1][logicalExperts];
    Arrays.fill(load[0], 1.0);
    List<Integer> active = Arrays.stream(world).sorted().boxed().toList();
    return new ExpertPlacementPlanner().plan(
        new PlacementRequest(load, maxRanks * slotsPerRank, 1, 1, maxRanks, active, List.of()));
  }

  /**
   * Rendezvous mode: the first RUN assignment fixes maxRanks and the placement fixes slots per rank.
   * Every assignment from the Watch stream goes into {@link ObservedViews}, and so does every placement
   * version newer than this rank has (fetched when an assignment or a load report names one);
   * {@link RankRuntime} joins the running world and switches worlds, and placement versions, at
   * checkpoints agreed by all its ranks, so no peer is ever a step ahead in another world or routes by
   * another placement. Peers masked on timeout are reported (ReportPeerFailure), and per-slot load goes
   * to the placement service every report interval, under the version it was counted with.
   */
  private int runWithRendezvous(PrintWriter out) throws Exception {
    ObservedViews views = new ObservedViews();
    ExecutorService placementFetcher = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon().factory());
    // Reports go out off the stepping thread: a slow call to a busy operator must not hold this rank past
    // its peers' data-plane timeout (seen in the local cluster: a rank masked while it reported load).
    ExecutorService reporter = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon().factory());
    try (RendezvousClient client = RendezvousClient.fromEnv()) {
      rank = client.identity().rank();
      PlacementFetch fetch = new PlacementFetch(client, views, placementFetcher);
      client.start(a -> {
        views.add(new WorldView(a.getEpoch(), a.getActiveRanksList().stream().mapToInt(Integer::intValue).toArray(),
            WorldView.Directive.valueOf(a.getDirective().name())));
        fetch.atLeast(a.getPlacementVersion());
      });
      Assignment first = client.awaitAssignment(
          a -> a.getDirective() == Directive.RUN || a.getDirective() == Directive.EXIT, Duration.ofMinutes(10));
      if (first.getDirective() == Directive.EXIT) {
        out.printf("rank=%d epoch=%d told to EXIT before running%n", rank, first.getEpoch());
        return 0;
      }
      var placementMessage = client.placement();
      fetch.received(placementMessage);
      DispatchLayout layout = DispatchLayout.of(first.getMaxRanks(), placementMessage.getSlotsPerRank(), tokens, hidden);
      try (DispatchBackend backend = openBackend(layout, client.store(), out)) {
        TopkRouter router = new TopkRouter(hidden, placementMessage.getNumLogicalExperts(), topk, seed);
        // Replaced by the agreed world's placement when this rank joins one.
        MoeLayer layer = new MoeLayer(backend, router, intermediate, seed, dispatchDtype.equals("fp8"),
            PlacementDecoder.decode(placementMessage), 0);
        RankRuntime runtime = runtime(backend, client.store(), views, layer, out);
        LoadDriver driver = new LoadDriver(layer, rank, tokens, hidden, seed);
        List<Long> window = new ArrayList<>();
        for (long done = 0; steps == 0 || done < steps; ) {
          switch (runtime.beforeStep()) {
            case EXITED -> {
              return 0;
            }
            case DRAINED -> {
              client.leave("drained");
              return 0;
            }
            case IDLE -> {
              Thread.sleep(IDLE_POLL.toMillis());
              continue;
            }
            case RUNNING -> {}
          }
          window.add(step(driver));
          done++;
          for (PeerTimeoutException timeout : backend.takePeerTimeouts()) {
            out.printf("rank=%d epoch=%d masked rank %d after %d ms%n", rank, timeout.epoch(), timeout.rank(), timeout.waitedMillis());
            reporter.execute(() -> reportQuietly("peer failure of rank " + timeout.rank(),
                () -> client.reportPeerFailure(timeout.rank(), Duration.ofMillis(timeout.waitedMillis()))));
          }
          if (window.size() == reportEvery) {
            long[] load = layer.takeLocalLoad();
            long version = runtime.world().orElseThrow().placementVersion();
            // The answer names the operator's current version: a revision whose assignment this rank missed.
            reporter.execute(() -> reportQuietly("load", () -> fetch.atLeast(client.reportLoad(version, load))));
            report(out, runtime, done, window, load, backend.queryMask());
          }
        }
        runtime.finish();
      }
    } finally {
      placementFetcher.shutdownNow();
      reporter.shutdownNow();
    }
    return 0;
  }

  /** A report the operator did not take is logged; the next one carries fresh data. */
  private static void reportQuietly(String what, Runnable call) {
    try {
      call.run();
    } catch (StatusRuntimeException e) {
      LOG.log(Level.WARNING, "report of " + what + " not delivered: " + e.getStatus());
    }
  }

  /**
   * Fetches the operator's current placement into {@link ObservedViews} when a newer version is named,
   * off the stepping and Watch threads. A fetch that fails is tried again at the next mention.
   */
  private static final class PlacementFetch {
    private final RendezvousClient client;
    private final ObservedViews views;
    private final ExecutorService executor;
    private final AtomicLong newest = new AtomicLong();

    PlacementFetch(RendezvousClient client, ObservedViews views, ExecutorService executor) {
      this.client = client;
      this.views = views;
      this.executor = executor;
    }

    void received(io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement message) {
      views.addPlacement(new ObservedPlacement(message.getVersion(), message.getEpoch(), message.toByteArray()));
      newest.accumulateAndGet(message.getVersion(), Math::max);
    }

    void atLeast(long version) {
      if (version > newest.get()) {
        executor.execute(() -> {
          if (version > newest.get()) {
            try {
              received(client.placement());
            } catch (StatusRuntimeException e) {
              LOG.log(Level.WARNING, "placement version " + version + " named but not fetched: " + e.getStatus());
            }
          }
        });
      }
    }
  }

  /**
   * Before the rank registers anywhere: one that joined first and warmed up after would keep its world
   * waiting at the switch that admits it. The placement's slots per rank are not known yet (they come
   * with the first assignment), so the world of one holds {@code --slots-per-rank} experts, at least top-k:
   * the loops compiled are the same. A warm-up that fails costs only its speed-up, never the rank.
   */
  private void warmUpAlone(PrintWriter out) {
    if (warmupMillis == 0 || backendChoice().kind() != BackendChoice.Kind.CPU) {
      return;
    }
    // Rendezvous mode learns its rank when it registers, after this.
    String who = rank >= 0 ? Integer.toString(rank) : System.getenv().getOrDefault("EMD_RANK", "?");
    try {
      LoopbackWarmup.Report report = LoopbackWarmup.run(
          new LoopbackWarmup.Shape(Math.max(slotsPerRank, topk), tokens, hidden, topk, dispatchDtype.equals("fp8")),
          transports, Duration.ofMillis(warmupMillis));
      out.printf("rank=%s %s%n", who, report.describe());
    } catch (RuntimeException e) {
      out.printf("rank=%s skipped the warm-up (%s); its first steps run before the JIT has compiled them%n", who, e);
    }
    out.flush();
  }

  /**
   * The data plane {@code --backend} asks for. CUDA ranks stage peers on other hosts through pinned host
   * memory and UCX ({@code --transports}); same-host peers go through CUDA IPC.
   */
  private DispatchBackend openBackend(DispatchLayout layout, KeyValueStore store, PrintWriter out) {
    BackendChoice choice = backendChoice();
    out.printf("rank=%d data plane: %s%n", rank, choice.note());
    out.flush();
    Duration timeout = Duration.ofMillis(timeoutMillis);
    Duration connectTimeout = Duration.ofMillis(connectTimeoutMillis);
    return switch (choice.kind()) {
      case CPU -> new CpuDispatchBackend(layout, rank, store, timeout, connectTimeout, transports);
      case CUDA -> new CudaDispatchBackend(layout, rank, choice.deviceOrdinal(), store, timeout, connectTimeout,
          CudaDispatchBackend.PeerStaging.OTHER_HOSTS, transports);
    };
  }

  /** {@link BackendChoice} for this rank; a refusal is a usage error, raised before the rank joins anything. */
  private BackendChoice backendChoice() {
    try {
      return BackendChoice.choose(backendName, GpuProbe::result, Math.max(rank, 0), gpu);
    } catch (IllegalArgumentException | IllegalStateException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  private RankRuntime runtime(DispatchBackend backend, KeyValueStore store, ObservedViews views, MoeLayer layer,
      PrintWriter out) {
    // A world that ignores a newer epoch for longer than a peer timeout plus a connect is gone.
    Duration staleWorldAfter = Duration.ofMillis(2 * (timeoutMillis + connectTimeoutMillis));
    return new RankRuntime(backend, new EpochSwitchStore(store, Duration.ofMillis(connectTimeoutMillis)), views,
        new RankRuntime.Settings(switchInterval, IDLE_POLL, staleWorldAfter), System::nanoTime, s -> {
          s.placement().ifPresent(encoded -> {
            layer.updatePlacement(PlacementDecoder.decode(parsePlacement(encoded)), 0);
            // Counted over the old placement's slots; the operator weighs reports per version.
            layer.takeLocalLoad();
          });
          out.printf("rank=%d %s %s at step %d%s%n", rank, s.from() == null ? "joined" : s.stayed() ? "switched to" : "left for",
              s.to(), s.atStep(), s.connectTimeout().map(e -> " (connect timed out: " + e.getMessage() + ")").orElse(""));
          out.flush();
        });
  }

  private static io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement parsePlacement(byte[] encoded) {
    try {
      return io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement.parseFrom(encoded);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("the agreed world's placement in the store is not an ExpertPlacement message", e);
    }
  }

  private long step(LoadDriver driver) {
    LoadDriver.Step step = driver.step();
    if (!step.finite()) {
      throw new IllegalStateException("rank " + rank + " step " + step.index() + " produced a non-finite output");
    }
    return step.nanos();
  }

  private void report(PrintWriter out, RankRuntime runtime, long done, List<Long> window, long[] load, int[] mask) {
    long[] sorted = window.stream().mapToLong(Long::longValue).sorted().toArray();
    out.printf("rank=%d epoch=%d steps=%d p50=%.1fms max=%.1fms slot-load=%s mask=%s%n", rank, runtime.epoch(), done,
        sorted[sorted.length / 2] / 1e6, sorted[sorted.length - 1] / 1e6, Arrays.toString(load), Arrays.toString(mask));
    out.flush();
    window.clear();
  }

  private void validateModel() {
    backendChoice();
    if (!dispatchDtype.equals("fp8") && !dispatchDtype.equals("bf16")) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--dispatch-dtype is " + dispatchDtype + "; use fp8 or bf16");
    }
    if (switchInterval < 1 || connectTimeoutMillis < 1) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--switch-interval is " + switchInterval
          + " and --connect-timeout-ms " + connectTimeoutMillis + "; both must be at least 1");
    }
    if (warmupMillis < 0) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--warmup-ms is " + warmupMillis + "; it must be 0 (no warm-up) or more");
    }
    if (steps < 0 || reportEvery < 1) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--steps is " + steps + " and --report-every " + reportEvery + "; steps must be at least 0, the interval at least 1");
    }
  }

  private void validateStatic() {
    if (world == null) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--world is required with --store-dir");
    }
    if (rank < 0 || rank >= maxRanks) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--rank is " + rank + "; it must be in 0.." + (maxRanks - 1) + " (--max-ranks " + maxRanks + ")");
    }
    for (int r : world) {
      if (r < 0 || r >= maxRanks) {
        throw new CommandLine.ParameterException(spec.commandLine(),
            "--world contains " + r + "; ranks must be in 0.." + (maxRanks - 1) + " (--max-ranks " + maxRanks + ")");
      }
    }
    if (Arrays.stream(world).noneMatch(r -> r == rank)) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--world " + Arrays.toString(world) + " does not contain --rank " + rank);
    }
    if ((long) world.length * slotsPerRank < logicalExperts) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--logical-experts is " + logicalExperts + "; "
          + world.length + " ranks × " + slotsPerRank + " slots hold at most " + (world.length * slotsPerRank));
    }
  }
}
