package io.elasticmoe.worker.bench.placement;

import io.elasticmoe.placement.DeepSeekEplb;
import io.elasticmoe.placement.ExpertPlacement;
import io.elasticmoe.placement.ExpertPlacementPlanner;
import io.elasticmoe.placement.PlacementRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Planning time for one placement of a whole model. Defaults are DeepSeek-V3's shape: 61 MoE
 * layers, 256 logical experts, 288 replicas, 8 groups, 4 nodes, 32 GPUs. {@code bin/elasticmoe
 * bench eplb} runs it and DeepSeek's reference side by side.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class EplbBenchmark {

  @Param("61")
  public int layers;

  @Param("256")
  public int numLogical;

  @Param("288")
  public int numReplicas;

  @Param("8")
  public int numGroups;

  @Param("4")
  public int numNodes;

  @Param("32")
  public int numGpus;

  @Param("1")
  public long seed;

  /**
   * Ranks lost in the elastic case, taken from the end of distinct nodes first. Three is the most
   * DeepSeek-V3's shape survives: 29 live ranks x 9 slots = 261 slots hold 256 experts, 28 x 9 do
   * not.
   */
  @Param("3")
  public int deadRanks;

  private EplbWorkload workload;
  private PlacementRequest allAliveSpread;
  private PlacementRequest someDeadSpread;
  private final ExpertPlacementPlanner planner = new ExpertPlacementPlanner();

  @Setup
  public void setUp() {
    workload =
        EplbWorkload.generate(layers, numLogical, numReplicas, numGroups, numNodes, numGpus, seed);
    int gpusPerNode = numGpus / numNodes;
    List<String> domainPerRank =
        IntStream.range(0, numGpus).mapToObj(rank -> "node-" + rank / gpusPerNode).toList();
    List<Integer> all = IntStream.range(0, numGpus).boxed().toList();
    List<Integer> someDead = new ArrayList<>(all);
    for (int i = 0; i < deadRanks; i++) {
      someDead.remove(Integer.valueOf(((i % numNodes) + 1) * gpusPerNode - 1 - i / numNodes));
    }
    allAliveSpread =
        new PlacementRequest(
            workload.load(), numReplicas, numGroups, numNodes, numGpus, all, domainPerRank);
    someDeadSpread =
        new PlacementRequest(
            workload.load(),
            numReplicas,
            numGroups,
            numNodes,
            numGpus,
            List.copyOf(someDead),
            domainPerRank);
  }

  /** The exact port alone: what DeepSeek's {@code rebalance_experts} computes. */
  @Benchmark
  public ExpertPlacement referencePort() {
    return DeepSeekEplb.rebalanceExperts(
        workload.load(), numReplicas, numGroups, numNodes, numGpus);
  }

  /**
   * The operator's planner with all ranks alive: the port plus failure-domain spreading by node.
   */
  @Benchmark
  public ExpertPlacement plannerAllAlive() {
    return planner.plan(allAliveSpread);
  }

  /**
   * The operator's planner after losing {@code deadRanks} ranks: elasticity-aware plus spreading.
   */
  @Benchmark
  public ExpertPlacement plannerSomeDead() {
    return planner.plan(someDeadSpread);
  }
}
