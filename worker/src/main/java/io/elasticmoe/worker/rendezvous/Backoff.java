package io.elasticmoe.worker.rendezvous;

import java.time.Duration;
import java.util.random.RandomGenerator;

/**
 * Exponential backoff with full jitter (a uniform delay in [0, min(max, base·2^attempt)]), so that 64
 * workers that lost the rendezvous at the same instant do not reconnect in lockstep.
 */
public final class Backoff {
  private final Duration base;
  private final Duration max;
  private final RandomGenerator random;
  private int attempt;

  public Backoff(Duration base, Duration max, RandomGenerator random) {
    if (base.isNegative() || base.isZero() || max.compareTo(base) < 0) {
      throw new IllegalArgumentException(
          "backoff base is " + base + " and max " + max + "; base must be positive and at most max");
    }
    this.base = base;
    this.max = max;
    this.random = random;
  }

  public Duration next() {
    long ceiling = base.toNanos() << Math.min(attempt, 30);
    if (ceiling <= 0 || ceiling > max.toNanos()) {
      ceiling = max.toNanos();
    }
    attempt++;
    return Duration.ofNanos(random.nextLong(ceiling + 1));
  }

  public void reset() {
    attempt = 0;
  }
}
