package io.elasticmoe.placement;

import java.util.Arrays;
import java.util.List;

/**
 * An exact port of DeepSeek's expert-parallel load balancer ({@code rebalance_experts} in
 * deepseek-ai/EPLB {@code eplb.py}): for the same loads it returns the same {@code phy2log}, {@code
 * log2phy} and {@code logcnt}, tie for tie.
 *
 * <p>Per layer the hierarchical policy (1) packs expert groups onto nodes with balanced packing,
 * (2) replicates experts within each node, each extra replica going to the expert with the highest
 * load per replica, and (3) packs each node's replicas onto its GPUs with balanced packing. The
 * global policy is the same with one group and one node. {@link #rebalanceExperts} picks
 * hierarchical when {@code numGroups % numNodes == 0}, as the reference does.
 *
 * <p>What makes it exact rather than merely similar:
 *
 * <ul>
 *   <li>Loads are rounded to {@code float} and all arithmetic stays in {@code float}, as the
 *       reference runs on {@code weight.float()}: two loads equal in float tie even when their
 *       doubles differ.
 *   <li>Balanced packing visits items in the order of the reference's {@code
 *       sort(descending=True)}, which on the CPU is libstdc++'s unstable introsort, replayed by
 *       {@link ReferenceSortOrder}; it takes the first pack of minimal load among packs with room
 *       (Python's {@code min} keeps the first minimum).
 *   <li>Replication takes the first expert of maximal load per replica ({@code max(dim=-1)} returns
 *       the first maximal index).
 *   <li>Group loads are summed in the order PyTorch's vectorised CPU reduction uses (see {@link
 *       #groupLoad}), so a tie that exists in float in the reference exists here too.
 * </ul>
 */
public final class DeepSeekEplb {

  /**
   * Float lanes of PyTorch's {@code Vectorized<float>} on an AVX2 build, which sets the order in
   * which its sum kernel adds a contiguous row.
   */
  private static final int SUM_LANES = 8;

  /**
   * PyTorch's {@code row_sum} splits a row over this many independent accumulators ({@code
   * ilp_factor}).
   */
  private static final int SUM_ACCUMULATORS = 4;

  /** PyTorch's {@code multi_row_sum} carries partial sums up a level every 2^4 rows or more. */
  private static final int MIN_LEVEL_POWER = 4;

  private static final int MIN_LEVEL_STEP = 1 << MIN_LEVEL_POWER;

  private DeepSeekEplb() {}

  /**
   * The reference's entry point: hierarchical when {@code numGroups % numNodes == 0}, else global.
   */
  public static ExpertPlacement rebalanceExperts(
      double[][] weight, int numReplicas, int numGroups, int numNodes, int numGpus) {
    requirePositive("num_groups", numGroups);
    requirePositive("num_nodes", numNodes);
    return numGroups % numNodes == 0
        ? rebalanceHierarchical(weight, numReplicas, numGroups, numNodes, numGpus)
        : rebalanceGlobal(weight, numReplicas, numGpus);
  }

  /** The global policy: one group on one node, replicas packed over all GPUs. */
  public static ExpertPlacement rebalanceGlobal(double[][] weight, int numReplicas, int numGpus) {
    return rebalanceHierarchical(weight, numReplicas, 1, 1, numGpus);
  }

  /** The hierarchical policy; requires {@code numGroups % numNodes == 0}. */
  public static ExpertPlacement rebalanceHierarchical(
      double[][] weight, int numReplicas, int numGroups, int numNodes, int numGpus) {
    float[][] load = LoadMatrix.toFloat(weight, "weight");
    checkShape(load[0].length, numReplicas, numGroups, numNodes, numGpus);

    int[][] phy2log = new int[load.length][];
    int[][] phyrank = new int[load.length][];
    int[][] logcnt = new int[load.length][];
    for (int layer = 0; layer < load.length; layer++) {
      LayerPlan plan = planLayer(load[layer], numReplicas, numGroups, numNodes, numGpus);
      phy2log[layer] = plan.phy2log;
      phyrank[layer] = plan.phyrank;
      logcnt[layer] = plan.logcnt;
    }
    return new ExpertPlacement(
        phy2log, logicalToPhysical(phy2log, phyrank, logcnt), logcnt, List.of());
  }

  /** The reference's assertions, as errors that name the value and the rule. */
  private static void checkShape(
      int numLogical, int numReplicas, int numGroups, int numNodes, int numGpus) {
    requirePositive("num_groups", numGroups);
    requirePositive("num_nodes", numNodes);
    requirePositive("num_gpus", numGpus);
    requirePositive("num_replicas", numReplicas);
    if (numLogical % numGroups != 0) {
      throw new IllegalArgumentException(
          "num_logical is %s; it must be a multiple of num_groups (%s)"
              .formatted(numLogical, numGroups));
    }
    if (numGroups % numNodes != 0) {
      throw new IllegalArgumentException(
          "num_groups is %s; the hierarchical policy needs a multiple of num_nodes (%s)"
              .formatted(numGroups, numNodes));
    }
    if (numGpus % numNodes != 0) {
      throw new IllegalArgumentException(
          "num_gpus is " + numGpus + "; it must be a multiple of num_nodes (" + numNodes + ")");
    }
    if (numReplicas % numGpus != 0) {
      throw new IllegalArgumentException(
          "num_replicas is %s; it must be a multiple of num_gpus (%s)"
              .formatted(numReplicas, numGpus));
    }
    if (numReplicas < numLogical) {
      throw new IllegalArgumentException(
          String.format(
              "num_replicas is %s; it must be at least num_logical (%s): every logical expert "
                  + "needs a replica",
              numReplicas, numLogical));
    }
  }

  private static void requirePositive(String field, int value) {
    if (value <= 0) {
      throw new IllegalArgumentException(field + " is " + value + "; it must be at least 1");
    }
  }

  private record LayerPlan(int[] phy2log, int[] phyrank, int[] logcnt) {}

  private static LayerPlan planLayer(
      float[] load, int numPhysical, int numGroups, int numNodes, int numGpus) {
    int numLogical = load.length;
    int groupSize = numLogical / numGroups;
    int groupsPerNode = numGroups / numNodes;
    int logicalPerNode = numLogical / numNodes;
    int physicalPerNode = numPhysical / numNodes;
    int physicalPerGpu = numPhysical / numGpus;
    int gpusPerNode = numGpus / numNodes;

    // Step 1: pack groups onto nodes. "mlog" numbers logical experts node by node, so that node n
    // holds
    // mlog ids [n * logicalPerNode, (n + 1) * logicalPerNode).
    Packing groupPacking = balancedPacking(groupLoads(load, numGroups, groupsPerNode), numNodes);
    int[] log2mlog = new int[numLogical];
    int[] mlog2log = new int[numLogical];
    for (int g = 0; g < numGroups; g++) {
      int firstMlog =
          (groupPacking.pack[g] * groupsPerNode + groupPacking.rankInPack[g]) * groupSize;
      for (int j = 0; j < groupSize; j++) {
        log2mlog[g * groupSize + j] = firstMlog + j;
        mlog2log[firstMlog + j] = g * groupSize + j;
      }
    }

    int[] phy2log = new int[numPhysical];
    int[] phyrank = new int[numPhysical];
    int[] mlogcnt = new int[numLogical];
    float[] nodeLoad = new float[logicalPerNode];
    int[] nodePhy2mlog = new int[physicalPerNode];
    int[] nodePhyrank = new int[physicalPerNode];
    int[] nodeMlogcnt = new int[logicalPerNode];
    float[] replicaLoad = new float[physicalPerNode];
    for (int node = 0; node < numNodes; node++) {
      int mlogBase = node * logicalPerNode;
      for (int k = 0; k < logicalPerNode; k++) {
        nodeLoad[k] = load[mlog2log[mlogBase + k]];
      }
      // Step 2: replicate experts within the node.
      replicateExperts(nodeLoad, nodePhy2mlog, nodePhyrank, nodeMlogcnt);
      System.arraycopy(nodeMlogcnt, 0, mlogcnt, mlogBase, logicalPerNode);

      // Step 3: pack the node's replicas onto its GPUs, each replica carrying an equal share of its
      // expert's load.
      for (int p = 0; p < physicalPerNode; p++) {
        int mlog = nodePhy2mlog[p];
        replicaLoad[p] = nodeLoad[mlog] / nodeMlogcnt[mlog];
      }
      Packing gpuPacking = balancedPacking(replicaLoad, gpusPerNode);
      int phyBase = node * physicalPerNode;
      for (int p = 0; p < physicalPerNode; p++) {
        int slot = phyBase + gpuPacking.pack[p] * physicalPerGpu + gpuPacking.rankInPack[p];
        phy2log[slot] = mlog2log[mlogBase + nodePhy2mlog[p]];
        phyrank[slot] = nodePhyrank[p];
      }
    }
    int[] logcnt = new int[numLogical];
    for (int e = 0; e < numLogical; e++) {
      logcnt[e] = mlogcnt[log2mlog[e]];
    }
    return new LayerPlan(phy2log, phyrank, logcnt);
  }

  /**
   * Per-group loads; with one group per node the packing is the identity and ignores them, so they
   * are not summed.
   */
  private static float[] groupLoads(float[] load, int numGroups, int groupsPerNode) {
    float[] groupLoad = new float[numGroups];
    if (groupsPerNode > 1) {
      int groupSize = load.length / numGroups;
      for (int g = 0; g < numGroups; g++) {
        groupLoad[g] = groupLoad(load, g * groupSize, groupSize);
      }
    }
    return groupLoad;
  }

  private record Packing(int[] pack, int[] rankInPack) {}

  /**
   * Packs {@code load.length} items into {@code numPacks} packs of exactly {@code load.length /
   * numPacks} items each: heaviest item first, each into the currently lightest pack that still has
   * room.
   */
  private static Packing balancedPacking(float[] load, int numPacks) {
    int numItems = load.length;
    int itemsPerPack = numItems / numPacks;
    int[] pack = new int[numItems];
    int[] rankInPack = new int[numItems];
    if (itemsPerPack == 1) {
      for (int i = 0; i < numItems; i++) {
        pack[i] = i;
      }
      return new Packing(pack, rankInPack);
    }
    float[] packLoad = new float[numPacks];
    int[] packItems = new int[numPacks];
    for (int item : ReferenceSortOrder.descending(load)) {
      int best = -1;
      for (int p = 0; p < numPacks; p++) {
        if (packItems[p] < itemsPerPack && (best < 0 || packLoad[p] < packLoad[best])) {
          best = p;
        }
      }
      pack[item] = best;
      rankInPack[item] = packItems[best];
      packLoad[best] += load[item];
      packItems[best]++;
    }
    return new Packing(pack, rankInPack);
  }

  /**
   * Fills the first {@code load.length} replicas with one per expert, then gives each further
   * replica to the first expert with the highest load per replica.
   */
  private static void replicateExperts(float[] load, int[] phy2log, int[] phyrank, int[] logcnt) {
    int numLogical = load.length;
    for (int e = 0; e < numLogical; e++) {
      phy2log[e] = e;
      phyrank[e] = 0;
      logcnt[e] = 1;
    }
    for (int p = numLogical; p < phy2log.length; p++) {
      int best = 0;
      float bestLoad = load[0] / logcnt[0];
      for (int e = 1; e < numLogical; e++) {
        float perReplica = load[e] / logcnt[e];
        if (perReplica > bestLoad) {
          best = e;
          bestLoad = perReplica;
        }
      }
      phy2log[p] = best;
      phyrank[p] = logcnt[best];
      logcnt[best]++;
    }
  }

  /**
   * Sums {@code load[from, from + count)} in float in the order PyTorch's CPU {@code sum(-1)} adds
   * a contiguous row: a row shorter than one vector is one strided row sum; a longer one is a
   * strided row sum per vector lane, then the scalar tail and the lane sums are added in order.
   * Only the rounding of near-equal group loads depends on this order, and with it a float tie in
   * the reference is a tie here.
   */
  static float groupLoad(float[] load, int from, int count) {
    if (count < SUM_LANES) {
      return rowSum(load, from, 1, count);
    }
    int numVectors = count / SUM_LANES;
    float total = 0f;
    for (int i = numVectors * SUM_LANES; i < count; i++) {
      total += load[from + i];
    }
    for (int lane = 0; lane < SUM_LANES; lane++) {
      total += rowSum(load, from + lane, SUM_LANES, numVectors);
    }
    return total;
  }

  /**
   * PyTorch's {@code row_sum}: {@code size} elements {@code stride} apart, spread over four
   * accumulators (element {@code i} to accumulator {@code i % 4}) through {@link #cascadeSum}, the
   * tail into the first, then the four added in order.
   */
  private static float rowSum(float[] load, int from, int stride, int size) {
    int rows = size / SUM_ACCUMULATORS;
    float[] partial;
    if (rows < MIN_LEVEL_STEP) {
      // No block completes, so the cascade is a plain column sum (plus zeros): skip its arrays.
      partial = new float[SUM_ACCUMULATORS];
      for (int row = 0; row < rows; row++) {
        addRow(partial, load, from, stride, row);
      }
    } else {
      partial = cascadeSum(load, from, stride, rows);
    }
    for (int i = rows * SUM_ACCUMULATORS; i < size; i++) {
      partial[0] += load[from + i * stride];
    }
    return ((partial[0] + partial[1]) + partial[2]) + partial[3];
  }

  /**
   * PyTorch's {@code multi_row_sum}: four column sums over {@code rows} rows, accumulated in blocks
   * of 2^levelPower rows that are carried up through four levels, which bounds rounding error on
   * long rows.
   */
  private static float[] cascadeSum(float[] load, int from, int stride, int rows) {
    int levels = 4;
    int ceilLog2 = rows <= 2 ? 1 : 64 - Long.numberOfLeadingZeros(rows - 1L);
    int levelPower = Math.max(MIN_LEVEL_POWER, ceilLog2 / levels);
    int levelStep = 1 << levelPower;
    long levelMask = levelStep - 1L;
    float[][] acc = new float[levels][SUM_ACCUMULATORS];
    int row = 0;
    while (row + levelStep <= rows) {
      for (int j = 0; j < levelStep; j++, row++) {
        addRow(acc[0], load, from, stride, row);
      }
      for (int level = 1; level < levels; level++) {
        for (int k = 0; k < SUM_ACCUMULATORS; k++) {
          acc[level][k] += acc[level - 1][k];
          acc[level - 1][k] = 0f;
        }
        if ((row & (levelMask << (level * levelPower))) != 0) {
          break;
        }
      }
    }
    for (; row < rows; row++) {
      addRow(acc[0], load, from, stride, row);
    }
    for (int level = 1; level < levels; level++) {
      for (int k = 0; k < SUM_ACCUMULATORS; k++) {
        acc[0][k] += acc[level][k];
      }
    }
    return acc[0];
  }

  private static void addRow(float[] acc, float[] load, int from, int stride, int row) {
    for (int k = 0; k < SUM_ACCUMULATORS; k++) {
      acc[k] += load[from + (row * SUM_ACCUMULATORS + k) * stride];
    }
  }

  /**
   * Builds {@code log2phy[layer][expert][replica] = slot}, padded with -1 to the largest replica
   * count over all layers, from each slot's expert and replica index.
   */
  static int[][][] logicalToPhysical(int[][] phy2log, int[][] phyrank, int[][] logcnt) {
    int maxCount = 0;
    for (int[] layer : logcnt) {
      for (int count : layer) {
        maxCount = Math.max(maxCount, count);
      }
    }
    int[][][] log2phy = new int[phy2log.length][][];
    for (int layer = 0; layer < phy2log.length; layer++) {
      log2phy[layer] = new int[logcnt[layer].length][maxCount];
      for (int[] replicas : log2phy[layer]) {
        Arrays.fill(replicas, -1);
      }
      for (int slot = 0; slot < phy2log[layer].length; slot++) {
        int expert = phy2log[layer][slot];
        if (expert >= 0) {
          log2phy[layer][expert][phyrank[layer][slot]] = slot;
        }
      }
    }
    return log2phy;
  }
}
