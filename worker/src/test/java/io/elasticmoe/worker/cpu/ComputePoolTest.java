package io.elasticmoe.worker.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ComputePoolTest {

  @Test
  void everyIndexRunsExactlyOnceAcrossTheThreads() {
    try (ComputePool pool = new ComputePool(3)) {
      for (int n : new int[] {0, 1, 2, 3, 7, 128, 1000}) {
        AtomicIntegerArray runs = new AtomicIntegerArray(n);
        pool.forRanges(n, 1, (range, from, to) -> {
          for (int i = from; i < to; i++) {
            runs.incrementAndGet(i);
          }
        });
        for (int i = 0; i < n; i++) {
          assertThat(runs.get(i)).as("index %d of %d", i, n).isEqualTo(1);
        }
      }
    }
  }

  @Test
  void rangesAreSpreadOverThreadsButNotBelowTheGrain() {
    try (ComputePool pool = new ComputePool(4)) {
      Set<String> threads = ConcurrentHashMap.newKeySet();
      Set<Integer> sizes = ConcurrentHashMap.newKeySet();
      pool.forRanges(400, 1, (range, from, to) -> threads.add(range + "@" + Thread.currentThread().getName()));
      assertThat(threads).hasSize(4).contains("0@" + Thread.currentThread().getName());
      assertThat(pool.rangesFor(400, 1)).isEqualTo(4);
      assertThat(pool.rangesFor(10, 5)).isEqualTo(2);
      assertThat(pool.rangesFor(0, 1)).isEqualTo(1);
      pool.forRanges(10, 5, (range, from, to) -> sizes.add(to - from));
      assertThat(sizes).containsExactly(5);
    }
  }

  @Test
  void oneThreadRunsInlineOnTheCaller() {
    try (ComputePool pool = new ComputePool(1)) {
      Set<String> threads = ConcurrentHashMap.newKeySet();
      pool.forRanges(100, 1, (range, from, to) -> threads.add(Thread.currentThread().getName()));
      assertThat(threads).containsExactly(Thread.currentThread().getName());
    }
  }

  @Test
  void aFailingRangeFailsTheCallAfterAllRangesEnded() {
    try (ComputePool pool = new ComputePool(3)) {
      AtomicIntegerArray done = new AtomicIntegerArray(3);
      assertThatThrownBy(() -> pool.forRanges(3, 1, (range, from, to) -> {
        if (from == 1) {
          throw new IllegalStateException("range 1 failed");
        }
        done.set(from, 1);
      })).isInstanceOf(IllegalStateException.class).hasMessage("range 1 failed");
      assertThat(done.get(0)).isEqualTo(1);
      assertThat(done.get(2)).isEqualTo(1);
    }
  }

  @Test
  void backToBackHandOffsReuseTheHelpersWithoutLosingAWakeUp() {
    // Each helper is handed a range, unparked and waited for thousands of times in a row: a lost wake-up
    // (of a helper or of the waiting caller) would hang this test, a stale slot would double-count.
    try (ComputePool pool = new ComputePool(4)) {
      long[] sums = new long[4];
      for (int round = 0; round < 20_000; round++) {
        int n = 4 + round % 13;
        pool.forRanges(n, 1, (range, from, to) -> {
          for (int i = from; i < to; i++) {
            sums[range] += i;
          }
        });
      }
      long expected = 0;
      for (int round = 0; round < 20_000; round++) {
        int n = 4 + round % 13;
        expected += (long) n * (n - 1) / 2;
      }
      assertThat(sums[0] + sums[1] + sums[2] + sums[3]).isEqualTo(expected);
    }
  }

  @Test
  void aFailureIsReportedOnceAndTheNextCallRunsNormally() {
    try (ComputePool pool = new ComputePool(3)) {
      assertThatThrownBy(() -> pool.forRanges(3, 1, (range, from, to) -> {
        if (range == 2) {
          throw new IllegalArgumentException("helper range failed");
        }
      })).isInstanceOf(IllegalArgumentException.class).hasMessage("helper range failed");
      AtomicIntegerArray runs = new AtomicIntegerArray(3);
      pool.forRanges(3, 1, (range, from, to) -> runs.incrementAndGet(range));
      assertThat(runs.get(0) + runs.get(1) + runs.get(2)).isEqualTo(3);
    }
  }

  @Test
  void closeEndsTheHelperThreads() throws InterruptedException {
    Set<Thread> before = Set.copyOf(Thread.getAllStackTraces().keySet());
    ComputePool pool = new ComputePool(3);
    pool.forRanges(3, 1, (range, from, to) -> { });
    Set<Thread> helpers = ConcurrentHashMap.newKeySet();
    Thread.getAllStackTraces().keySet().stream()
        .filter(t -> !before.contains(t) && t.getName().startsWith("ep-compute-"))
        .forEach(helpers::add);
    assertThat(helpers).hasSize(2);
    pool.close();
    for (Thread helper : helpers) {
      helper.join(5_000);
      assertThat(helper.isAlive()).as(helper.getName()).isFalse();
    }
  }

  @Test
  void rejectsNoThreadsAndNoRanks() {
    assertThatThrownBy(() -> new ComputePool(0)).hasMessage("compute threads is 0; it must be at least 1");
    assertThatThrownBy(() -> ComputePool.defaultThreads(0))
        .hasMessage("ranks on the host is 0; it must be at least 1");
    assertThat(ComputePool.defaultThreads(Integer.MAX_VALUE)).isEqualTo(1);
  }
}
