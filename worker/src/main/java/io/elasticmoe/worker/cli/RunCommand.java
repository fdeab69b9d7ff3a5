package io.elasticmoe.worker.cli;

import io.elasticmoe.placement.ExpertPlacement;
import io.elasticmoe.placement.ExpertPlacementPlanner;
import io.elasticmoe.placement.PlacementRequest;
import io.elasticmoe.worker.cpu.CpuDispatchBackend;
import io.elasticmoe.worker.moe.LoadDriver;
import io.elasticmoe.worker.moe.MoeLayer;
import io.elasticmoe.worker.moe.TopkRouter;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.PeerTimeoutException;
import io.elasticmoe.worker.runtime.RankRuntime;
import io.elasticmoe.worker.runtime.WorldView;
import io.elasticmoe.worker.store.DirectoryKeyValueStore;
import io.elasticmoe.worker.transport.UcxTransport;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code elasticmoe run}: what one rank executes. It builds the CPU data plane and the synthetic MoE
 * layer, joins its world and drives load, printing per-interval latency, per-slot load and every peer
 * it masked. This version runs a static world on one host through a shared store directory
 * ({@code --store-dir}); following the rendezvous Watch stream plugs into the same {@link RankRuntime}.
 */
@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    description = {
      "Runs one EP rank: CPU data plane over UCX plus a synthetic MoE layer under seeded load.",
      "Start one process per rank of --world with the same --store-dir (single host, no operator)."
    })
public final class RunCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--rank", required = true, description = "This rank.")
  int rank;

  @Option(names = "--world", required = true, split = ",", description = "Active ranks, e.g. 0,1,2,3.")
  int[] world;

  @Option(names = "--store-dir", required = true, description = "Directory shared by the ranks for metadata exchange.")
  Path storeDir;

  @Option(names = "--max-ranks", defaultValue = "4", description = "Buffer capacity in ranks (default: ${DEFAULT-VALUE}).")
  int maxRanks;

  @Option(names = "--slots-per-rank", defaultValue = "4", description = "Physical expert slots per rank (default: ${DEFAULT-VALUE}).")
  int slotsPerRank;

  @Option(names = "--logical-experts", defaultValue = "12", description = "Logical experts (default: ${DEFAULT-VALUE}).")
  int logicalExperts;

  @Option(names = "--hidden", defaultValue = "512", description = "Hidden size (default: ${DEFAULT-VALUE}).")
  int hidden;

  @Option(names = "--intermediate", defaultValue = "256", description = "Expert FFN size (default: ${DEFAULT-VALUE}).")
  int intermediate;

  @Option(names = "--tokens", defaultValue = "32", description = "Tokens per rank per step (default: ${DEFAULT-VALUE}).")
  int tokens;

  @Option(names = "--topk", defaultValue = "4", description = "Experts per token (default: ${DEFAULT-VALUE}).")
  int topk;

  @Option(names = "--dispatch-dtype", defaultValue = "fp8", description = "fp8 or bf16 (default: ${DEFAULT-VALUE}).")
  String dispatchDtype;

  @Option(names = "--steps", defaultValue = "100", description = "Steps to run (default: ${DEFAULT-VALUE}).")
  int steps;

  @Option(names = "--report-every", defaultValue = "20", description = "Steps between reports (default: ${DEFAULT-VALUE}).")
  int reportEvery;

  @Option(names = "--timeout-ms", defaultValue = "5000", description = "Data-plane timeout before a peer is masked (default: ${DEFAULT-VALUE}).")
  long timeoutMillis;

  @Option(names = "--transports", defaultValue = UcxTransport.HOST_TRANSPORTS, description = "UCX_TLS (default: ${DEFAULT-VALUE}).")
  String transports;

  @Option(names = "--seed", defaultValue = "1", description = "Seed of router, experts and load (default: ${DEFAULT-VALUE}).")
  long seed;

  @Override
  public Integer call() throws Exception {
    validate();
    PrintWriter out = spec.commandLine().getOut();
    Files.createDirectories(storeDir);
    DispatchLayout layout = DispatchLayout.of(maxRanks, slotsPerRank, tokens, hidden);
    ExpertPlacement placement = uniformPlacement();
    try (DirectoryKeyValueStore store = new DirectoryKeyValueStore(storeDir);
        CpuDispatchBackend backend = new CpuDispatchBackend(
            layout, rank, store, Duration.ofMillis(timeoutMillis), Duration.ofMinutes(5), transports)) {
      RankRuntime runtime = new RankRuntime(backend);
      out.printf("rank=%d epoch=0 connecting to world %s%n", rank, Arrays.toString(world));
      out.flush();
      runtime.apply(new WorldView(0, world, WorldView.Directive.RUN));
      TopkRouter router = new TopkRouter(hidden, logicalExperts, topk, seed);
      MoeLayer layer = new MoeLayer(backend, router, intermediate, seed, dispatchDtype.equals("fp8"), placement, 0);
      LoadDriver driver = new LoadDriver(layer, rank, tokens, hidden, seed);
      List<Long> window = new ArrayList<>();
      for (int s = 0; s < steps; s++) {
        LoadDriver.Step step = driver.step();
        if (!step.finite()) {
          throw new IllegalStateException("rank " + rank + " step " + step.index() + " produced a non-finite output");
        }
        window.add(step.nanos());
        for (PeerTimeoutException timeout : backend.takePeerTimeouts()) {
          out.printf("rank=%d epoch=%d masked rank %d after %d ms%n", rank, timeout.epoch(), timeout.rank(), timeout.waitedMillis());
        }
        if (window.size() == reportEvery || s == steps - 1) {
          long[] sorted = window.stream().mapToLong(Long::longValue).sorted().toArray();
          out.printf("rank=%d epoch=%d steps=%d p50=%.1fms max=%.1fms slot-load=%s mask=%s%n", rank, runtime.epoch(), s + 1,
              sorted[sorted.length / 2] / 1e6, sorted[sorted.length - 1] / 1e6, Arrays.toString(layer.takeLocalLoad()),
              Arrays.toString(backend.queryMask()));
          out.flush();
          window.clear();
        }
      }
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

  private void validate() {
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
    if (!dispatchDtype.equals("fp8") && !dispatchDtype.equals("bf16")) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--dispatch-dtype is " + dispatchDtype + "; use fp8 or bf16");
    }
    if (steps < 1 || reportEvery < 1) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--steps is " + steps + " and --report-every " + reportEvery + "; both must be at least 1");
    }
  }
}
