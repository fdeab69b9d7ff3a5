package io.elasticmoe.operator.rendezvous.core;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class KeyValueCoreTest {
  private static final String NS = "team-a/llm";
  private static final Duration LONG = Duration.ofSeconds(30);

  private final ScheduledThreadPoolExecutor deadlines = new ScheduledThreadPoolExecutor(1);
  private final KeyValueCore core = new KeyValueCore(KeyValueLimits.DEFAULTS, deadlines);

  KeyValueCoreTest() {
    deadlines.setRemoveOnCancelPolicy(true);
  }

  @AfterEach
  void stopDeadlines() {
    deadlines.shutdownNow();
  }

  private static byte[] b(String s) {
    return s.getBytes(UTF_8);
  }

  private static <T> T done(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  private static Throwable failureOf(CompletableFuture<?> f) throws Exception {
    ExecutionException e =
        assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
    return e.getCause();
  }

  private void assertNothingWaits() {
    KeyValueStats stats = core.stats(NS);
    assertThat(stats.waiters()).as("pending waiters").isZero();
    assertThat(stats.watchedKeys()).as("watched keys").isZero();
  }

  @Test
  void setThenGetReturnsACopyOfTheValue() {
    byte[] value = b("v1");
    core.set(NS, "k", value);
    value[0] = 'x';
    assertThat(core.getExisting(NS, "k")).isEqualTo(b("v1"));
  }

  @Test
  void nonBlockingGetOfAMissingKeyNamesTheKey() {
    assertThat(core.tryGet(NS, "absent")).isEmpty();
    KeyValueMissingKeyException e =
        assertThrows(KeyValueMissingKeyException.class, () -> core.getExisting(NS, "absent"));
    assertThat(e).hasMessage("store key 'absent' does not exist in namespace team-a/llm");
  }

  @Test
  void blockingGetIsWokenByTheLaterSetWithItsValue() throws Exception {
    CompletableFuture<byte[]> pending = core.getAsync(NS, "NIXL_EP/3", LONG);
    assertThat(pending).isNotDone();
    assertThat(core.stats(NS).waiters()).isEqualTo(1);
    core.set(NS, "NIXL_EP/3", b("meta-3"));
    assertThat(done(pending)).isEqualTo(b("meta-3"));
    assertNothingWaits();
  }

  @Test
  void blockingGetOfAnExistingKeyCompletesAtOnce() throws Exception {
    core.set(NS, "k", b("v"));
    CompletableFuture<byte[]> f = core.getAsync(NS, "k");
    assertThat(f).isCompleted();
    assertThat(done(f)).isEqualTo(b("v"));
    assertNothingWaits();
  }

  @Test
  void waitCompletesOnlyWhenEveryKeyExists() throws Exception {
    CompletableFuture<Void> f = core.waitAsync(NS, List.of("a", "b", "c"), LONG);
    core.set(NS, "a", b("1"));
    core.set(NS, "c", b("3"));
    assertThat(f).isNotDone();
    core.set(NS, "b", b("2"));
    done(f);
    assertNothingWaits();
  }

  @Test
  void waitKeepsWaitingForAKeyDeletedBeforeTheLastArrives() throws Exception {
    CompletableFuture<List<byte[]>> f = core.multiGetAsync(NS, List.of("a", "b"), LONG);
    core.set(NS, "a", b("1"));
    core.deleteKey(NS, "a");
    core.set(NS, "b", b("2"));
    assertThat(f).isNotDone();
    core.set(NS, "a", b("1'"));
    assertThat(done(f)).containsExactly(b("1'"), b("2"));
    assertNothingWaits();
  }

  @Test
  void aWaitPastItsDeadlineFailsWithTheKeysAndLeavesNothingBehind() throws Exception {
    CompletableFuture<Void> f = core.waitAsync(NS, List.of("x", "y"), Duration.ofMillis(20));
    Throwable cause = failureOf(f);
    assertThat(cause)
        .isInstanceOf(KeyValueTimeoutException.class)
        .hasMessage("store keys [x, y] did not all exist within 20 ms");
    assertNothingWaits();
    assertThat(deadlines.getQueue()).isEmpty();
  }

  @Test
  void blockingGetThrowsTheTimeoutOfTheStore() {
    KeyValueTimeoutException e =
        assertThrows(
            KeyValueTimeoutException.class, () -> core.get(NS, "never", Duration.ofMillis(10)));
    assertThat(e.keys()).containsExactly("never");
    assertNothingWaits();
  }

  @Test
  void cancelledWaitersLeaveNothingBehind() {
    List<CompletableFuture<?>> futures = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      futures.add(core.getAsync(NS, "k" + (i % 7), LONG));
      futures.add(core.waitAsync(NS, List.of("k1", "w" + i), LONG));
    }
    assertThat(core.stats(NS).waiters()).isEqualTo(200);
    futures.forEach(f -> f.cancel(false));
    assertNothingWaits();
    // The deadline tasks of cancelled waiters are gone too.
    assertThat(deadlines.getQueue()).isEmpty();
  }

  @Test
  void completedWaitersCancelTheirDeadline() throws Exception {
    CompletableFuture<byte[]> f = core.getAsync(NS, "k", Duration.ofHours(1));
    assertThat(deadlines.getQueue()).hasSize(1);
    core.set(NS, "k", b("v"));
    done(f);
    assertThat(deadlines.getQueue()).isEmpty();
  }

  @Test
  void waiterContinuationsRunOutsideTheNamespaceLock() throws Exception {
    ExecutorService other = Executors.newSingleThreadExecutor();
    try {
      CompletableFuture<Boolean> otherThreadCouldWrite =
          core.getAsync(NS, "trigger", LONG)
              .thenApply(
                  v -> {
                    Future<?> write = other.submit(() -> core.set(NS, "second", b("v")));
                    try {
                      write.get(5, TimeUnit.SECONDS);
                      return true;
                    } catch (Exception e) {
                      return false;
                    }
                  });
      core.set(NS, "trigger", b("go"));
      assertThat(done(otherThreadCouldWrite)).isTrue();
    } finally {
      other.shutdownNow();
    }
  }

  @Test
  void addStartsFromZeroAndStoresADecimalCounter() {
    assertThat(core.add(NS, "barrier", 1)).isEqualTo(1);
    assertThat(core.add(NS, "barrier", 41)).isEqualTo(42);
    assertThat(core.add(NS, "barrier", -2)).isEqualTo(40);
    assertThat(core.getExisting(NS, "barrier")).isEqualTo(b("40"));
  }

  @Test
  void addWakesAGetOfTheCounter() throws Exception {
    CompletableFuture<byte[]> f = core.getAsync(NS, "c", LONG);
    core.add(NS, "c", 7);
    assertThat(done(f)).isEqualTo(b("7"));
  }

  @Test
  void addOnAValueThatIsNotACounterIsRejectedAndChangesNothing() {
    core.set(NS, "text", b("hello"));
    KeyValueCounterException e =
        assertThrows(KeyValueCounterException.class, () -> core.add(NS, "text", 1));
    assertThat(e).hasMessage("store key 'text' holds 5 bytes that are not a decimal 64-bit counter");
    assertThat(core.getExisting(NS, "text")).isEqualTo(b("hello"));
  }

  @Test
  void addThatOverflowsIsRejected() {
    core.add(NS, "c", Long.MAX_VALUE);
    KeyValueCounterException e =
        assertThrows(KeyValueCounterException.class, () -> core.add(NS, "c", 1));
    assertThat(e)
        .hasMessage("store key 'c' holds " + Long.MAX_VALUE + "; adding 1 overflows 64 bits");
  }

  @Test
  void compareSetSwapsOnlyWhenTheCurrentValueMatches() {
    core.set(NS, "k", b("old"));
    assertThat(core.compareSet(NS, "k", b("other"), b("new"))).isEqualTo(b("old"));
    assertThat(core.compareSet(NS, "k", b("old"), b("new"))).isEqualTo(b("new"));
    assertThat(core.getExisting(NS, "k")).isEqualTo(b("new"));
  }

  @Test
  void compareSetOnAMissingKeyFollowsTcpStore() {
    // TCPStore answers the expected value when the key is absent and expected is not empty.
    assertThat(core.compareSet(NS, "k", b("e"), b("d"))).isEqualTo(b("e"));
    assertThat(core.tryGet(NS, "k")).isEmpty();
    // An empty expected value creates the key.
    assertThat(core.compareSet(NS, "k", new byte[0], b("d"))).isEqualTo(b("d"));
    assertThat(core.getExisting(NS, "k")).isEqualTo(b("d"));
  }

  @Test
  void checkDeleteAndNumKeys() {
    core.set(NS, "a", b("1"));
    core.set(NS, "b", b("2"));
    assertThat(core.check(NS, List.of("a", "b"))).isTrue();
    assertThat(core.check(NS, List.of("a", "z"))).isFalse();
    assertThat(core.numKeys(NS)).isEqualTo(2);
    assertThat(core.deleteKey(NS, "a")).isTrue();
    assertThat(core.deleteKey(NS, "a")).isFalse();
    assertThat(core.numKeys(NS)).isEqualTo(1);
    assertThat(core.stats(NS).bytes()).isEqualTo(2);
  }

  @Test
  void multiSetIsSeenWholeByAMultiGet() throws Exception {
    CompletableFuture<List<byte[]>> f = core.multiGetAsync(NS, List.of("x", "y"), LONG);
    core.multiSet(NS, List.of("x", "y", "x"), List.of(b("1"), b("2"), b("3")));
    assertThat(done(f)).containsExactly(b("3"), b("2"));
    assertThat(core.numKeys(NS)).isEqualTo(2);
  }

  @Test
  void multiSetWithMismatchedCountsIsRejected() {
    KeyValueLimitException e =
        assertThrows(
            KeyValueLimitException.class,
            () -> core.multiSet(NS, List.of("a", "b"), List.of(b("1"))));
    assertThat(e).hasMessage("values count is 1; it must equal the keys count 2");
  }

  @Test
  void multiSetOverTheQuotaChangesNothing() {
    KeyValueCore small = new KeyValueCore(new KeyValueLimits(8, 16, 8, 30, 4), deadlines);
    small.set(NS, "a", b("0123456789"));
    KeyValueQuotaException e =
        assertThrows(
            KeyValueQuotaException.class,
            () -> small.multiSet(NS, List.of("b", "c"), List.of(b("0123456789"), b("01234567"))));
    assertThat(e).hasMessage("store namespace team-a/llm would hold 31 bytes; the quota is 30 (KeyValueLimits)");
    assertThat(small.numKeys(NS)).isEqualTo(1);
    assertThat(small.stats(NS).bytes()).isEqualTo(11);
  }

  @Test
  void overwritingWithASmallerValueIsAllowedAtTheQuota() {
    KeyValueCore small = new KeyValueCore(new KeyValueLimits(8, 16, 8, 24, 4), deadlines);
    small.set(NS, "a", b("0123456789abcdef"));
    small.set(NS, "b", b("012345"));
    assertThat(small.stats(NS).bytes()).isEqualTo(24);
    small.set(NS, "a", b("01"));
    assertThat(small.stats(NS).bytes()).isEqualTo(10);
  }

  @Test
  void appendCreatesThenConcatenates() throws Exception {
    CompletableFuture<byte[]> f = core.getAsync(NS, "log", LONG);
    assertThat(core.append(NS, "log", b("ab"))).isEqualTo(2);
    assertThat(done(f)).isEqualTo(b("ab"));
    assertThat(core.append(NS, "log", b("cd"))).isEqualTo(4);
    assertThat(core.getExisting(NS, "log")).isEqualTo(b("abcd"));
  }

  @Test
  void appendPastTheValueLimitIsRejected() {
    KeyValueCore small = new KeyValueCore(new KeyValueLimits(8, 4, 8, 100, 4), deadlines);
    small.append(NS, "k", b("abc"));
    KeyValueLimitException e =
        assertThrows(KeyValueLimitException.class, () -> small.append(NS, "k", b("de")));
    assertThat(e).hasMessage("appended value bytes is 5; the limit (maxValueBytes) is 4");
    assertThat(small.getExisting(NS, "k")).isEqualTo(b("abc"));
  }

  @Test
  void oversizedKeysAndValuesAndEmptyKeysAreRejected() {
    KeyValueCore small = new KeyValueCore(new KeyValueLimits(4, 8, 2, 100, 4), deadlines);
    assertThat(assertThrows(KeyValueLimitException.class, () -> small.set(NS, "abcde", b("v"))))
        .hasMessage("key bytes is 5; the limit (maxKeyBytes) is 4");
    // Two-byte UTF-8 characters count twice.
    assertThat(assertThrows(KeyValueLimitException.class, () -> small.set(NS, "ééé", b("v"))))
        .hasMessage("key bytes is 6; the limit (maxKeyBytes) is 4");
    assertThat(assertThrows(KeyValueLimitException.class, () -> small.set(NS, "", b("v"))))
        .hasMessage("key bytes is 0; a key must have at least 1");
    assertThat(assertThrows(KeyValueLimitException.class, () -> small.set(NS, "k", b("123456789"))))
        .hasMessage("value bytes is 9; the limit (maxValueBytes) is 8");
    assertThat(
            assertThrows(
                KeyValueLimitException.class, () -> small.check(NS, List.of("a", "b", "c"))))
        .hasMessage("keys count is 3; the limit (maxKeysPerRequest) is 2");
    assertThat(
            assertThrows(
                KeyValueLimitException.class, () -> small.waitAsync(NS, List.of(), LONG)))
        .hasMessage("keys count is 0; a call must name at least 1");
    assertThat(
            assertThrows(
                KeyValueLimitException.class, () -> small.getAsync(NS, "k", Duration.ZERO)))
        .hasMessage("timeout ms is 0; a blocking call needs a timeout of at least 1");
    assertThat(small.numKeys(NS)).isZero();
  }

  @Test
  void theWaiterQuotaBoundsPendingCallsPerNamespace() {
    KeyValueCore small = new KeyValueCore(new KeyValueLimits(8, 8, 2, 100, 2), deadlines);
    small.getAsync(NS, "a", LONG);
    small.getAsync(NS, "b", LONG);
    KeyValueQuotaException e =
        assertThrows(KeyValueQuotaException.class, () -> small.getAsync(NS, "c", LONG));
    assertThat(e)
        .hasMessage("store namespace team-a/llm would hold 3 waiters; the quota is 2 (KeyValueLimits)");
    // Another deployment is not affected.
    assertThat(small.getAsync("team-b/other", "c", LONG)).isNotDone();
  }

  @Test
  void namespacesAreDisjoint() {
    core.set(NS, "k", b("a"));
    core.set("team-b/other", "k", b("b"));
    assertThat(core.getExisting(NS, "k")).isEqualTo(b("a"));
    assertThat(core.getExisting("team-b/other", "k")).isEqualTo(b("b"));
    core.deleteKey("team-b/other", "k");
    assertThat(core.check(NS, List.of("k"))).isTrue();
  }

  @Test
  void closingANamespaceFailsItsWaitersAndDropsItsKeys() throws Exception {
    core.set(NS, "k", b("v"));
    CompletableFuture<byte[]> f = core.getAsync(NS, "missing", LONG);
    core.closeNamespace(NS);
    assertThat(failureOf(f))
        .isInstanceOf(KeyValueClosedException.class)
        .hasMessage("store namespace team-a/llm was closed while the call waited");
    assertThat(core.numKeys(NS)).isZero();
    assertThat(core.totals().waiters()).isZero();
  }

  @Test
  void aBarrierOf64ThreadsBuiltFromAddAndWaitReleasesEveryoneOnce() throws Exception {
    int n = 64;
    ExecutorService pool = Executors.newFixedThreadPool(n);
    try {
      List<Future<Long>> arrivals = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        arrivals.add(
            pool.submit(
                () -> {
                  long arrived = core.add(NS, "barrier/count", 1);
                  if (arrived == n) {
                    core.set(NS, "barrier/done", b("1"));
                  }
                  core.await(NS, List.of("barrier/done"), LONG);
                  return arrived;
                }));
      }
      List<Long> order = new ArrayList<>();
      for (Future<Long> a : arrivals) {
        order.add(a.get(30, TimeUnit.SECONDS));
      }
      assertThat(order).containsExactlyInAnyOrderElementsOf(
          java.util.stream.LongStream.rangeClosed(1, n).boxed().toList());
      assertNothingWaits();
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void concurrentCompareSetsHaveExactlyOneWinner() throws Exception {
    int n = 64;
    ExecutorService pool = Executors.newFixedThreadPool(n);
    CountDownLatch start = new CountDownLatch(1);
    AtomicInteger winners = new AtomicInteger();
    try {
      List<Future<?>> all = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        byte[] mine = b("rank-" + i);
        all.add(
            pool.submit(
                () -> {
                  start.await();
                  byte[] after = core.compareSet(NS, "leader", new byte[0], mine);
                  if (java.util.Arrays.equals(after, mine)) {
                    winners.incrementAndGet();
                  }
                  return null;
                }));
      }
      start.countDown();
      for (Future<?> f : all) {
        f.get(30, TimeUnit.SECONDS);
      }
      assertThat(winners).hasValue(1);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void limitsRejectAQuotaSmallerThanOneEntry() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> new KeyValueLimits(4, 8, 1, 11, 1));
    assertThat(e)
        .hasMessage(
            "maxBytesPerNamespace is 11; it must hold at least one largest entry, maxKeyBytes + maxValueBytes = 12");
  }
}
