package io.elasticmoe.worker.moe;

import io.elasticmoe.worker.runtime.Bf16;
import java.util.Random;

/**
 * Feeds a {@link MoeLayer} with seeded token batches, one step at a time, and times each step. The
 * batch of step s on rank r is a function of (seed, r, s), so a run can be replayed.
 */
public final class LoadDriver {

  /** One step: wall time of the layer's forward and whether its output was finite. */
  public record Step(long index, long nanos, boolean finite) {}

  private final MoeLayer layer;
  private final int rank;
  private final int numTokens;
  private final int hidden;
  private final long seed;
  private long index;

  public LoadDriver(MoeLayer layer, int rank, int numTokens, int hidden, long seed) {
    this.layer = layer;
    this.rank = rank;
    this.numTokens = numTokens;
    this.hidden = hidden;
    this.seed = seed;
  }

  public Step step() {
    Random random = new Random(seed * 1_000_003L + rank * 7_919L + index);
    short[] x = new short[numTokens * hidden];
    for (int i = 0; i < x.length; i++) {
      x[i] = Bf16.fromFloat((float) random.nextGaussian());
    }
    long start = System.nanoTime();
    short[] out = layer.forward(x, numTokens);
    long nanos = System.nanoTime() - start;
    boolean finite = true;
    for (short value : out) {
      finite &= Float.isFinite(Bf16.toFloat(value));
    }
    return new Step(index++, nanos, finite);
  }
}
