package io.elasticmoe.worker.moe;

import io.elasticmoe.placement.ExpertPlacement;
import io.elasticmoe.worker.runtime.Bf16;
import io.elasticmoe.worker.runtime.DispatchBackend;
import io.elasticmoe.worker.runtime.DispatchResult;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * One synthetic MoE layer on one rank: route (logical experts), pick a physical replica per selection
 * from the current placement, dispatch, run each local slot's expert on the rows it received, combine.
 * The per-slot token counts it accumulates are the load the rank reports for EPLB.
 *
 * <p>Replicas are chosen by {@link ReplicaAssigner}. An expert with no replica, or whose owning rank is
 * masked, is dropped by dispatch, as in NIXL-EP.
 */
public final class MoeLayer {

  private final DispatchBackend backend;
  private final TopkRouter router;
  private final int hidden;
  private final int intermediate;
  private final long seed;
  private final boolean useFp8;
  private final Map<Integer, ExpertFfn> experts = new HashMap<>();
  private final long[] localLoad;
  private ExpertPlacement placement;
  private int layer;

  public MoeLayer(
      DispatchBackend backend, TopkRouter router, int intermediate, long seed, boolean useFp8,
      ExpertPlacement placement, int layer) {
    this.backend = backend;
    this.router = router;
    this.hidden = backend.layout().hidden();
    this.intermediate = intermediate;
    this.seed = seed;
    this.useFp8 = useFp8;
    this.localLoad = new long[backend.layout().numLocalExperts()];
    updatePlacement(placement, layer);
  }

  /**
   * Switches to a new placement version. Nothing is copied between ranks: an expert's weights follow from
   * its seed and logical id, so a slot that now hosts another expert builds it on its first tokens, and
   * experts this rank no longer hosts are dropped.
   */
  public void updatePlacement(ExpertPlacement placement, int layer) {
    int slots = placement.phy2log()[layer].length;
    int numLocal = backend.layout().numLocalExperts();
    if (slots % numLocal != 0) {
      throw new IllegalArgumentException("placement has " + slots + " physical slots; it must be a multiple of the "
          + numLocal + " slots per rank");
    }
    this.placement = placement;
    this.layer = layer;
    Set<Integer> hosted = new HashSet<>();
    for (int localSlot = 0; localSlot < numLocal; localSlot++) {
      hosted.add(placement.phy2log()[layer][backend.rank() * numLocal + localSlot]);
    }
    experts.keySet().retainAll(hosted);
  }


  /** Physical expert ids {@code [T, K]} for logical selections under the current placement. */
  public int[] physicalIdx(int[] logicalIdx, int topk) {
    return ReplicaAssigner.physicalIdx(placement, layer, logicalIdx, topk);
  }

  public short[] forward(short[] x, int numTokens) {
    TopkRouter.Routing routing = router.route(x, numTokens);
    int topk = router.topk();
    int[] physical = physicalIdx(routing.logicalIdx(), topk);
    int numSlots = placement.phy2log()[layer].length;
    DispatchResult received = backend.dispatch(x, numTokens, physical, topk, numSlots, useFp8, false);
    short[] y = runExperts(received);
    return backend.combine(y, physical, routing.weights(), received.handle());
  }

  private short[] runExperts(DispatchResult received) {
    int numLocal = backend.layout().numLocalExperts();
    int rowsPerExpert = received.handle().rowsPerExpert();
    short[] y = new short[numLocal * rowsPerExpert * hidden];
    float[] in = new float[hidden];
    float[] out = new float[hidden];
    for (int localSlot = 0; localSlot < numLocal; localSlot++) {
      int count = received.recvCount()[localSlot];
      localLoad[localSlot] += count;
      int logical = placement.phy2log()[layer][backend.rank() * numLocal + localSlot];
      if (count == 0 || logical < 0) {
        continue;
      }
      ExpertFfn expert = experts.computeIfAbsent(logical, e -> new ExpertFfn(e, hidden, intermediate, seed));
      for (int i = 0; i < count; i++) {
        int row = localSlot * rowsPerExpert + i;
        received.rows().toFloat(row, in, 0);
        expert.forward(in, 0, out, 0);
        for (int c = 0; c < hidden; c++) {
          y[row * hidden + c] = Bf16.fromFloat(out[c]);
        }
      }
    }
    return y;
  }

  /** Tokens received per local slot since the last call; resets the counters (the load report). */
  public long[] takeLocalLoad() {
    long[] load = localLoad.clone();
    java.util.Arrays.fill(localLoad, 0);
    return load;
  }

  /**
   * The single-process reference: {@code out[t] = Σ_k w[t,k]·FFN_{e[t,k]}(x[t])} in fp32 over logical
   * experts whose owning ranks are live ({@code liveRank[r]}), as bf16.
   */
  public static short[] reference(
      short[] x, int numTokens, int hidden, TopkRouter router, int intermediate, long seed, int[] physicalIdx,
      int slotsPerRank, boolean[] liveRank) {
    TopkRouter.Routing routing = router.route(x, numTokens);
    int topk = router.topk();
    Map<Integer, ExpertFfn> experts = new HashMap<>();
    short[] out = new short[numTokens * hidden];
    float[] in = new float[hidden];
    float[] expertOut = new float[hidden];
    float[] sum = new float[hidden];
    for (int t = 0; t < numTokens; t++) {
      java.util.Arrays.fill(sum, 0f);
      for (int c = 0; c < hidden; c++) {
        in[c] = Bf16.toFloat(x[t * hidden + c]);
      }
      for (int k = 0; k < topk; k++) {
        int logical = routing.logicalIdx()[t * topk + k];
        int slot = physicalIdx[t * topk + k];
        if (slot < 0 || !liveRank[slot / slotsPerRank]) {
          continue;
        }
        experts.computeIfAbsent(logical, e -> new ExpertFfn(e, hidden, intermediate, seed)).forward(in, 0, expertOut, 0);
        for (int c = 0; c < hidden; c++) {
          sum[c] += routing.weights()[t * topk + k] * expertOut[c];
        }
      }
      for (int c = 0; c < hidden; c++) {
        out[t * hidden + c] = Bf16.fromFloat(sum[c]);
      }
    }
    return out;
  }
}
