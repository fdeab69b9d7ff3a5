package io.elasticmoe.worker.cpu;

import io.elasticmoe.worker.runtime.Bf16;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.DispatchResult;
import io.elasticmoe.worker.store.DirectoryKeyValueStore;
import io.elasticmoe.worker.store.StoreTimeoutException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Dispatch and combine steps in a world of one, this rank alone, before the rank joins its real world: the
 * JIT compiles the backend's loops (the fp8 cast, the row copies, the combine reduction) on these steps, so
 * the rank's first steps in its world run compiled.
 *
 * <p>Why: every rank of an EP world waits for the slowest one in each call, and until C2 has compiled them
 * the Vector API loops run 20–40× slower (a call per vector operation). A rank that joined cold held its
 * whole world back for its first thousand-odd steps (docs/dataplane.md, "Cold JIT"). Running the loops on
 * scratch arrays alone did not help, since the compiled code also depends on the backend's own classes; a
 * {@link CpuDispatchBackend} of its own runs exactly the code the rank will (its own buffer is written
 * through the same mapped-buffer path as a same-host peer's), with a store in a temporary directory and no
 * peer. Transfers to peers on other hosts (UCX puts) are not warmed: there is no peer.
 */
public final class LoopbackWarmup {

  /** The shape of the steps, as the rank will run them: topk experts among localExperts, fp8 or bf16. */
  public record Shape(int localExperts, int tokens, int hidden, int topk, boolean fp8) {}

  /** Steps run, how long, the first step's time and the mean of the last ones. */
  public record Report(int steps, Duration elapsed, double firstStepMillis, double lastStepsMillis) {

    /** One line for a rank's log. */
    public String describe() {
      return String.format(java.util.Locale.ROOT,
          "warmed up alone for %d ms: %d dispatch+combine steps, the first %.1f ms, the last %.2f ms each",
          elapsed.toMillis(), steps, firstStepMillis, lastStepsMillis);
    }
  }

  /** The last report's time per step is the mean over this many steps. */
  static final int RECENT_STEPS = 32;

  private LoopbackWarmup() {}

  /**
   * Runs steps until {@code budget} has passed (one at least) with a backend of its own over {@code transports};
   * {@code tokens} may be any count the rank's own layout accepts.
   */
  public static Report run(Shape shape, String transports, Duration budget) {
    // The layout's token count is rounded up to its row alignment; the steps dispatch shape.tokens() of them.
    int maxTokens = -Math.floorDiv(-shape.tokens(), DispatchLayout.RECV_ROWS_ALIGNMENT)
        * DispatchLayout.RECV_ROWS_ALIGNMENT;
    DispatchLayout layout = DispatchLayout.of(1, shape.localExperts(), maxTokens, shape.hidden());
    SplittableRandom random = new SplittableRandom(7);
    short[] x = new short[shape.tokens() * shape.hidden()];
    for (int i = 0; i < x.length; i++) {
      x[i] = Bf16.fromFloat((float) random.nextGaussian());
    }
    // Distinct experts per token while there are enough; -1 (nothing selected) past them.
    int[] topkIdx = new int[shape.tokens() * shape.topk()];
    float[] weights = new float[topkIdx.length];
    for (int t = 0; t < shape.tokens(); t++) {
      for (int k = 0; k < shape.topk(); k++) {
        topkIdx[t * shape.topk() + k] = k < shape.localExperts() ? (t + k) % shape.localExperts() : -1;
        weights[t * shape.topk() + k] = (float) random.nextDouble();
      }
    }
    short[] y = new short[shape.localExperts() * maxTokens * shape.hidden()];
    for (int i = 0; i < y.length; i += 7) {
      y[i] = Bf16.fromFloat((float) random.nextGaussian());
    }
    Path storeDir;
    try {
      storeDir = Files.createTempDirectory("elasticmoe-warmup");
    } catch (IOException e) {
      throw new UncheckedIOException("no temporary directory for the warm-up's store", e);
    }
    try (DirectoryKeyValueStore store = new DirectoryKeyValueStore(storeDir);
        CpuDispatchBackend backend = new CpuDispatchBackend(
            layout, 0, store, Duration.ofSeconds(30), Duration.ofSeconds(30), transports, 1)) {
      backend.connect(0, new int[] {0}, new int[] {0}, true);
      long start = System.nanoTime();
      long end = start + budget.toNanos();
      long[] recent = new long[RECENT_STEPS];
      long first = 0;
      int steps = 0;
      long before = start;
      long now;
      do {
        DispatchResult result = backend.dispatch(
            x, shape.tokens(), topkIdx, shape.topk(), shape.localExperts(), shape.fp8(), (steps & 1) == 1);
        backend.combine(y, topkIdx, weights, result.handle());
        now = System.nanoTime();
        first = steps == 0 ? now - before : first;
        recent[steps % RECENT_STEPS] = now - before;
        steps++;
        before = now;
      } while (now < end);
      long recentSum = 0;
      for (int i = 0; i < Math.min(steps, RECENT_STEPS); i++) {
        recentSum += recent[i];
      }
      return new Report(steps, Duration.ofNanos(now - start), first / 1e6,
          recentSum / 1e6 / Math.min(steps, RECENT_STEPS));
    } catch (StoreTimeoutException e) {
      // A world of one waits for nobody; a timeout here means the temporary directory failed us.
      throw new IllegalStateException("the warm-up's own world did not connect: " + e.getMessage(), e);
    } finally {
      deleteTree(storeDir);
    }
  }

  private static void deleteTree(Path dir) {
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      // A leftover temporary directory of a few small files is not worth failing the rank for.
    }
  }
}
