package io.elasticmoe.worker.moe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.elasticmoe.placement.ExpertPlacement;
import io.elasticmoe.worker.cpu.CpuDispatchBackend;
import io.elasticmoe.worker.runtime.Bf16;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.store.DirectoryKeyValueStore;
import io.elasticmoe.worker.transport.UcxTransport;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** The EP path of the synthetic MoE layer against its single-process reference, 4 ranks in one JVM. */
public class MoeLayerTest {

  private static final int RANKS = 4;
  private static final int SLOTS_PER_RANK = 3;
  private static final int LOGICAL = 8;
  private static final int HIDDEN = 512;
  private static final int INTERMEDIATE = 64;
  private static final int TOKENS = 10;
  private static final int TOPK = 3;
  private static final long SEED = 11;

  @TempDir Path storeDir;

  /** 8 logical experts on 12 slots: experts 0..3 have a second replica on ranks 2 and 3. */
  static ExpertPlacement redundantPlacement() {
    int[] phy2log = {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3};
    int[][] log2phy = new int[LOGICAL][2];
    int[] logcnt = new int[LOGICAL];
    for (int e = 0; e < LOGICAL; e++) {
      log2phy[e][0] = -1;
      log2phy[e][1] = -1;
    }
    for (int slot = 0; slot < phy2log.length; slot++) {
      int e = phy2log[slot];
      log2phy[e][logcnt[e]++] = slot;
    }
    return new ExpertPlacement(new int[][] {phy2log}, new int[][][] {log2phy}, new int[][] {logcnt}, List.of());
  }

  private static short[] tokens(int rank) {
    Random random = new Random(500 + rank);
    short[] x = new short[TOKENS * HIDDEN];
    for (int i = 0; i < x.length; i++) {
      x[i] = Bf16.fromFloat((float) random.nextGaussian());
    }
    return x;
  }

  /** 1 − cosine similarity, as DeepEP's tests measure it; also SwitchRank's check of the EP output. */
  public static double calcDiff(short[] a, short[] b) {
    double dot = 0;
    double norms = 0;
    for (int i = 0; i < a.length; i++) {
      double x = Bf16.toFloat(a[i]);
      double y = Bf16.toFloat(b[i]);
      dot += x * y;
      norms += x * x + y * y;
    }
    return norms == 0 ? 0 : 1 - 2 * dot / norms;
  }

  @ParameterizedTest(name = "fp8 dispatch = {0}")
  @ValueSource(booleans = {false, true})
  void epOutputEqualsSingleProcessReference(boolean useFp8) throws Exception {
    DispatchLayout layout = DispatchLayout.of(RANKS, SLOTS_PER_RANK, 16, HIDDEN);
    int[] world = {0, 1, 2, 3};
    ExpertPlacement placement = redundantPlacement();
    ExecutorService pool = Executors.newFixedThreadPool(RANKS);
    try {
      List<Future<double[]>> results = new ArrayList<>();
      for (int rank : world) {
        results.add(pool.submit(() -> {
          try (DirectoryKeyValueStore store = new DirectoryKeyValueStore(storeDir);
              CpuDispatchBackend backend = new CpuDispatchBackend(layout, rank, store, Duration.ofSeconds(30),
                  Duration.ofSeconds(60), UcxTransport.HOST_TRANSPORTS)) {
            backend.connect(0, world, world, true);
            TopkRouter router = new TopkRouter(HIDDEN, LOGICAL, TOPK, SEED);
            MoeLayer layer = new MoeLayer(backend, router, INTERMEDIATE, SEED, useFp8, placement, 0);
            short[] x = tokens(rank);
            short[] out = layer.forward(x, TOKENS);
            int[] physical = layer.physicalIdx(router.route(x, TOKENS).logicalIdx(), TOPK);
            short[] reference = MoeLayer.reference(x, TOKENS, HIDDEN, router, INTERMEDIATE, SEED, physical,
                SLOTS_PER_RANK, new boolean[] {true, true, true, true});
            long load = java.util.Arrays.stream(layer.takeLocalLoad()).sum();
            return new double[] {calcDiff(out, reference), load};
          }
        }));
      }
      long totalLoad = 0;
      for (Future<double[]> result : results) {
        double[] r = result.get(120, TimeUnit.SECONDS);
        assertThat(r[0]).as("calc_diff of EP output vs reference").isLessThan(useFp8 ? 2e-3 : 1e-4);
        totalLoad += (long) r[1];
      }
      assertThat(totalLoad).as("every selection lands on exactly one replica").isEqualTo((long) RANKS * TOKENS * TOPK);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void spreadsSelectionsOfAReplicatedExpertOverItsReplicasAndDropsUnplacedOnes() {
    ExpertPlacement placement = redundantPlacement();
    // Two tokens, top-2: expert 0 has replicas in slots 0 and 8; expert 5 only in slot 5.
    int[] physical = ReplicaAssigner.physicalIdx(placement, 0, new int[] {0, 5, 0, -1}, 2);
    assertThat(physical).containsExactly(0, 5, 8, -1);
    assertThatThrownBy(() -> ReplicaAssigner.physicalIdx(placement, 0, new int[] {9}, 1))
        .hasMessageContaining("logical expert 9").hasMessageContaining("8 logical experts");
  }

  @Test
  void routerRejectsTopkAboveTheLimit() {
    assertThatThrownBy(() -> new TopkRouter(HIDDEN, 32, 17, SEED))
        .hasMessageContaining("topk is 17").hasMessageContaining("MAX_TOPK");
  }
}
