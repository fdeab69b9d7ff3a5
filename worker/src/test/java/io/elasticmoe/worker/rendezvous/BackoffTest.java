package io.elasticmoe.worker.rendezvous;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BackoffTest {

  @Test
  void delaysStayWithinTheDoublingCeilingAndTheMaximum() {
    Backoff b = new Backoff(Duration.ofMillis(50), Duration.ofSeconds(5), new SplittableRandom(7));
    long ceiling = 50;
    for (int attempt = 0; attempt < 20; attempt++) {
      Duration d = b.next();
      assertThat(d.toMillis()).isBetween(0L, Math.min(ceiling, 5_000));
      ceiling *= 2;
    }
  }

  @Test
  void jitterSpreadsConcurrentReconnects() {
    long distinct = java.util.stream.IntStream.range(0, 64)
        .mapToObj(i -> new Backoff(Duration.ofMillis(50), Duration.ofSeconds(5), new SplittableRandom(i)))
        .map(b -> { b.next(); b.next(); return b.next().toMillis(); })
        .distinct().count();
    assertThat(distinct).isGreaterThan(32);
  }

  @Test
  void resetStartsOverFromTheBase() {
    Backoff b = new Backoff(Duration.ofMillis(10), Duration.ofSeconds(5), new SplittableRandom(1));
    for (int i = 0; i < 10; i++) {
      b.next();
    }
    b.reset();
    assertThat(b.next().toMillis()).isLessThanOrEqualTo(10);
  }

  @Test
  void rejectsABaseAboveTheMaximum() {
    assertThat(assertThrows(IllegalArgumentException.class,
        () -> new Backoff(Duration.ofSeconds(10), Duration.ofSeconds(1), new SplittableRandom())))
        .hasMessage("backoff base is PT10S and max PT1S; base must be positive and at most max");
  }
}
