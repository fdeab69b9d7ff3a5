package io.elasticmoe.operator.rendezvous.core;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * The concurrent core of the rendezvous store, with PyTorch {@code TCPStore} semantics, shared by the
 * gRPC {@code StoreService} and the TCPStore-compatible endpoint.
 *
 * <p>Guarantees:
 *
 * <ul>
 *   <li>Namespaces (one per deployment) are disjoint: no operation on one reads or changes another.
 *   <li>Every operation is atomic and linearizable: each namespace has one lock, and every read and
 *       write of that namespace happens under it.
 *   <li>Blocking calls ({@link #getAsync}, {@link #waitAsync}, {@link #multiGetAsync}) are waiters
 *       registered under the keys they still miss. The write that makes all their keys exist completes
 *       them with the values at that instant; nothing polls. Futures are completed after the lock is
 *       released, so a caller's continuation never runs under it.
 *   <li>A waiter that ends any other way (its deadline, {@link CompletableFuture#cancel}, or
 *       {@link #closeNamespace}) is removed from every index: nothing is left behind.
 *   <li>Sizes are bounded by {@link KeyValueLimits}; a rejected write changes nothing.
 * </ul>
 *
 * <p>Values written by {@link #add} are ASCII decimal, as in TCPStore, so {@code get} of a counter
 * returns e.g. {@code "5"}.
 */
public final class KeyValueCore {

  private final KeyValueLimits limits;
  private final ScheduledExecutorService deadlines;
  private final ConcurrentHashMap<String, Namespace> namespaces = new ConcurrentHashMap<>();

  /**
   * @param deadlines runs the timeout of blocking calls; the task is cancelled as soon as the call
   *     completes, so use an executor with {@code setRemoveOnCancelPolicy(true)} to keep it small
   */
  public KeyValueCore(KeyValueLimits limits, ScheduledExecutorService deadlines) {
    this.limits = Objects.requireNonNull(limits, "limits");
    this.deadlines = Objects.requireNonNull(deadlines, "deadlines");
  }

  public KeyValueLimits limits() {
    return limits;
  }

  public void set(String namespace, String key, byte[] value) {
    checkKey(key);
    checkValue("value", value.length);
    mutate(namespace, (ns, wakeups) -> {
      ns.putWithinQuota(key, value.clone(), wakeups);
      return null;
    });
  }

  /** A non-blocking read. */
  public Optional<byte[]> tryGet(String namespace, String key) {
    checkKey(key);
    return read(namespace, ns -> Optional.ofNullable(ns.entries.get(key)).map(byte[]::clone));
  }

  /** A non-blocking read that fails with {@link KeyValueMissingKeyException} when the key is absent. */
  public byte[] getExisting(String namespace, String key) {
    return tryGet(namespace, key)
        .orElseThrow(() -> new KeyValueMissingKeyException(namespace, key));
  }

  /** Completes with the value once {@code key} exists. Cancel the returned future to withdraw. */
  public CompletableFuture<byte[]> getAsync(String namespace, String key) {
    return register(namespace, List.of(key), values -> values.get(0), null);
  }

  /** As {@link #getAsync(String, String)}; fails with {@link KeyValueTimeoutException} after {@code timeout}. */
  public CompletableFuture<byte[]> getAsync(String namespace, String key, Duration timeout) {
    return register(namespace, List.of(key), values -> values.get(0), checkTimeout(timeout));
  }

  /** Completes once every key exists at the same instant. */
  public CompletableFuture<Void> waitAsync(String namespace, List<String> keys, Duration timeout) {
    return register(namespace, keys, values -> null, checkTimeout(timeout));
  }

  /** Completes with the values of all keys, in request order, read at one instant once all exist. */
  public CompletableFuture<List<byte[]>> multiGetAsync(
      String namespace, List<String> keys, Duration timeout) {
    return register(namespace, keys, Function.identity(), checkTimeout(timeout));
  }

  /** Blocks the calling thread; see {@link #getAsync(String, String, Duration)}. */
  public byte[] get(String namespace, String key, Duration timeout) throws InterruptedException {
    return await(getAsync(namespace, key, timeout));
  }

  /** Blocks the calling thread; see {@link #waitAsync}. */
  public void await(String namespace, List<String> keys, Duration timeout)
      throws InterruptedException {
    await(waitAsync(namespace, keys, timeout));
  }

  /** Atomically adds {@code delta} to the counter at {@code key} (0 when absent); returns the sum. */
  public long add(String namespace, String key, long delta) {
    checkKey(key);
    return mutate(namespace, (ns, wakeups) -> {
      byte[] current = ns.entries.get(key);
      long sum;
      try {
        sum = Math.addExact(current == null ? 0 : parseCounter(key, current), delta);
      } catch (ArithmeticException e) {
        throw new KeyValueCounterException(
            key, "holds " + parseCounter(key, current) + "; adding " + delta + " overflows 64 bits");
      }
      ns.putWithinQuota(key, Long.toString(sum).getBytes(StandardCharsets.US_ASCII), wakeups);
      return sum;
    });
  }

  /**
   * TCPStore's {@code compare_set}: when the key holds {@code expected}, or is absent and {@code
   * expected} is empty, it becomes {@code desired}. Returns the value after the call; for an absent key
   * with a non-empty {@code expected} that is {@code expected} itself, as TCPStore answers.
   */
  public byte[] compareSet(String namespace, String key, byte[] expected, byte[] desired) {
    checkKey(key);
    checkValue("expected", expected.length);
    checkValue("desired", desired.length);
    return mutate(namespace, (ns, wakeups) -> {
      byte[] current = ns.entries.get(key);
      if (current == null) {
        if (expected.length != 0) {
          return expected.clone();
        }
      } else if (!Arrays.equals(current, expected)) {
        return current.clone();
      }
      ns.putWithinQuota(key, desired.clone(), wakeups);
      return desired.clone();
    });
  }

  /** Whether every key exists now. */
  public boolean check(String namespace, List<String> keys) {
    checkKeys(keys);
    return read(namespace, ns -> ns.entries.keySet().containsAll(keys));
  }

  /** Returns whether the key existed. */
  public boolean deleteKey(String namespace, String key) {
    checkKey(key);
    return mutate(namespace, (ns, wakeups) -> ns.remove(key));
  }

  public long numKeys(String namespace) {
    return read(namespace, ns -> (long) ns.entries.size());
  }

  /** Every key of the namespace at one instant, in no particular order (TCPStore's list_keys). */
  public List<String> keys(String namespace) {
    return read(namespace, ns -> List.copyOf(ns.entries.keySet()));
  }

  /** Sets all pairs atomically: waiters see either none or all of them. A later duplicate key wins. */
  public void multiSet(String namespace, List<String> keys, List<byte[]> values) {
    checkKeys(keys);
    if (keys.size() != values.size()) {
      throw new KeyValueLimitException(
          "values count", values.size(), keys.size(), "it must equal the keys count");
    }
    Map<String, byte[]> pairs = new LinkedHashMap<>();
    for (int i = 0; i < keys.size(); i++) {
      checkValue("values[" + i + "]", values.get(i).length);
      pairs.put(keys.get(i), values.get(i).clone());
    }
    mutate(namespace, (ns, wakeups) -> {
      long delta = 0;
      for (Map.Entry<String, byte[]> pair : pairs.entrySet()) {
        delta += ns.bytesDelta(pair.getKey(), pair.getValue().length);
      }
      ns.checkQuota(delta);
      pairs.forEach((key, value) -> ns.put(key, value, wakeups));
      return null;
    });
  }

  /** Appends to the value at {@code key}, creating it when absent; returns the new length. */
  public int append(String namespace, String key, byte[] suffix) {
    checkKey(key);
    checkValue("suffix", suffix.length);
    return mutate(namespace, (ns, wakeups) -> {
      byte[] current = ns.entries.getOrDefault(key, new byte[0]);
      long length = (long) current.length + suffix.length;
      checkValue("appended value", length);
      byte[] joined = Arrays.copyOf(current, (int) length);
      System.arraycopy(suffix, 0, joined, current.length, suffix.length);
      ns.putWithinQuota(key, joined, wakeups);
      return joined.length;
    });
  }

  /**
   * Drops a namespace and everything in it (its deployment is gone). Pending waiters fail with {@link
   * KeyValueClosedException}. A later call with the same name starts an empty namespace.
   */
  public void closeNamespace(String namespace) {
    Namespace ns = namespaces.remove(namespace);
    if (ns == null) {
      return;
    }
    List<Waiter<?>> orphans;
    ns.lock.lock();
    try {
      ns.closed = true;
      orphans = new ArrayList<>(ns.pending);
      ns.pending.clear();
      ns.waitersByKey.clear();
    } finally {
      ns.lock.unlock();
    }
    orphans.forEach(w -> w.future.completeExceptionally(new KeyValueClosedException(namespace)));
  }

  public KeyValueStats stats(String namespace) {
    Namespace ns = namespaces.get(namespace);
    return ns == null ? KeyValueStats.EMPTY : ns.stats();
  }

  /** Sums over all namespaces; each namespace is read atomically, the sum is not one snapshot. */
  public KeyValueStats totals() {
    KeyValueStats sum = KeyValueStats.EMPTY;
    for (Namespace ns : namespaces.values()) {
      sum = sum.plus(ns.stats());
    }
    return sum;
  }

  private <T> CompletableFuture<T> register(
      String namespace, List<String> keys, Function<List<byte[]>, T> result, Duration timeout) {
    checkKeys(keys);
    Waiter<T> waiter = new Waiter<>(List.copyOf(keys), result);
    boolean registered = mutate(namespace, (ns, wakeups) -> {
      if (ns.satisfy(waiter, wakeups)) {
        return false;
      }
      if (ns.pending.size() >= limits.maxWaitersPerNamespace()) {
        throw new KeyValueQuotaException(
            namespace, "waiters", ns.pending.size() + 1L, limits.maxWaitersPerNamespace());
      }
      ns.pending.add(waiter);
      ns.watch(waiter);
      waiter.namespace = ns;
      return true;
    });
    if (!registered) {
      return waiter.future;
    }
    // Withdraw on any end other than satisfaction; satisfaction already unregistered it under the lock.
    waiter.future.whenComplete((value, failure) -> {
      if (failure != null) {
        waiter.namespace.withdraw(waiter);
      }
    });
    if (timeout != null) {
      // Withdraw before failing the future: a caller's continuation (the gRPC reply) may run first
      // among the future's dependents, and must already see the waiter gone.
      ScheduledFuture<?> deadline = deadlines.schedule(
          () -> {
            waiter.namespace.withdraw(waiter);
            waiter.future.completeExceptionally(new KeyValueTimeoutException(keys, timeout));
          },
          timeout.toNanos(),
          TimeUnit.NANOSECONDS);
      waiter.future.whenComplete((value, failure) -> deadline.cancel(false));
    }
    return waiter.future;
  }

  private static <T> T await(CompletableFuture<T> future) throws InterruptedException {
    try {
      return future.get();
    } catch (InterruptedException e) {
      future.cancel(false);
      throw e;
    } catch (ExecutionException e) {
      if (e.getCause() instanceof KeyValueException kve) {
        throw kve;
      }
      throw new IllegalStateException("store waiter failed unexpectedly", e.getCause());
    }
  }

  private <T> T read(String namespace, Function<Namespace, T> body) {
    return mutate(namespace, (ns, wakeups) -> body.apply(ns));
  }

  private <T> T mutate(String namespace, Mutation<T> body) {
    Objects.requireNonNull(namespace, "namespace");
    List<Runnable> wakeups = new ArrayList<>();
    T result;
    while (true) {
      Namespace ns = namespaces.computeIfAbsent(namespace, name -> new Namespace(name, limits));
      ns.lock.lock();
      try {
        // A namespace closed between lookup and lock is gone from the map: retry on its successor.
        if (ns.closed) {
          continue;
        }
        result = body.apply(ns, wakeups);
      } finally {
        ns.lock.unlock();
      }
      break;
    }
    wakeups.forEach(Runnable::run);
    return result;
  }

  private void checkKey(String key) {
    Objects.requireNonNull(key, "key");
    int bytes = utf8Length(key);
    if (bytes == 0) {
      throw new KeyValueLimitException("key bytes", 0, 1, "a key must have at least");
    }
    if (bytes > limits.maxKeyBytes()) {
      throw new KeyValueLimitException(
          "key bytes", bytes, limits.maxKeyBytes(), "the limit (maxKeyBytes) is");
    }
  }

  private void checkKeys(List<String> keys) {
    if (keys.isEmpty()) {
      throw new KeyValueLimitException("keys count", 0, 1, "a call must name at least");
    }
    if (keys.size() > limits.maxKeysPerRequest()) {
      throw new KeyValueLimitException(
          "keys count", keys.size(), limits.maxKeysPerRequest(), "the limit (maxKeysPerRequest) is");
    }
    keys.forEach(this::checkKey);
  }

  private void checkValue(String field, long bytes) {
    if (bytes > limits.maxValueBytes()) {
      throw new KeyValueLimitException(
          field + " bytes", bytes, limits.maxValueBytes(), "the limit (maxValueBytes) is");
    }
  }

  private static Duration checkTimeout(Duration timeout) {
    if (timeout.isNegative() || timeout.isZero()) {
      throw new KeyValueLimitException(
          "timeout ms", timeout.toMillis(), 1, "a blocking call needs a timeout of at least");
    }
    return timeout;
  }

  private static long parseCounter(String key, byte[] value) {
    try {
      return Long.parseLong(new String(value, StandardCharsets.US_ASCII));
    } catch (NumberFormatException e) {
      throw new KeyValueCounterException(
          key, "holds " + value.length + " bytes that are not a decimal 64-bit counter");
    }
  }

  static int utf8Length(String s) {
    int bytes = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        bytes += 1;
      } else if (c < 0x800) {
        bytes += 2;
      } else if (Character.isHighSurrogate(c)) {
        bytes += 4;
        i++;
      } else {
        bytes += 3;
      }
    }
    return bytes;
  }

  @FunctionalInterface
  private interface Mutation<T> {
    T apply(Namespace ns, List<Runnable> wakeups);
  }

  private static final class Waiter<T> {
    final List<String> keys;
    final Function<List<byte[]>, T> result;
    final CompletableFuture<T> future = new CompletableFuture<>();
    // The keys whose index lists hold this waiter; guarded by the namespace lock.
    final Set<String> watched = new HashSet<>();
    Namespace namespace;

    Waiter(List<String> keys, Function<List<byte[]>, T> result) {
      this.keys = keys;
      this.result = result;
    }
  }

  /** One deployment's entries and waiters; every field is guarded by {@code lock}. */
  private static final class Namespace {
    final String name;
    final KeyValueLimits limits;

    final ReentrantLock lock = new ReentrantLock();
    final HashMap<String, byte[]> entries = new HashMap<>();
    final HashMap<String, List<Waiter<?>>> waitersByKey = new HashMap<>();
    final Set<Waiter<?>> pending = new HashSet<>();
    long bytes;
    boolean closed;

    Namespace(String name, KeyValueLimits limits) {
      this.name = name;
      this.limits = limits;
    }

    long bytesDelta(String key, int valueBytes) {
      byte[] old = entries.get(key);
      return old == null ? (long) utf8Length(key) + valueBytes : (long) valueBytes - old.length;
    }

    void checkQuota(long delta) {
      if (delta > 0 && bytes + delta > limits.maxBytesPerNamespace()) {
        throw new KeyValueQuotaException(name, "bytes", bytes + delta, limits.maxBytesPerNamespace());
      }
    }

    void putWithinQuota(String key, byte[] value, List<Runnable> wakeups) {
      checkQuota(bytesDelta(key, value.length));
      put(key, value, wakeups);
    }

    /** Stores without a quota check: callers check the whole operation first, so it applies whole. */
    void put(String key, byte[] value, List<Runnable> wakeups) {
      long delta = bytesDelta(key, value.length);
      entries.put(key, value);
      bytes += delta;
      List<Waiter<?>> woken = waitersByKey.remove(key);
      if (woken == null) {
        return;
      }
      for (Waiter<?> waiter : woken) {
        waiter.watched.remove(key);
        if (satisfy(waiter, wakeups)) {
          pending.remove(waiter);
          unwatch(waiter);
        } else {
          // Another key was deleted since: keep waiting for everything missing now.
          watch(waiter);
        }
      }
    }

    boolean remove(String key) {
      byte[] old = entries.remove(key);
      if (old == null) {
        return false;
      }
      bytes -= utf8Length(key) + (long) old.length;
      return true;
    }

    /** Queues the waiter's completion when all its keys exist now. */
    <T> boolean satisfy(Waiter<T> waiter, List<Runnable> wakeups) {
      List<byte[]> values = new ArrayList<>(waiter.keys.size());
      for (String key : waiter.keys) {
        byte[] value = entries.get(key);
        if (value == null) {
          return false;
        }
        values.add(value.clone());
      }
      T answer = waiter.result.apply(values);
      wakeups.add(() -> waiter.future.complete(answer));
      return true;
    }

    void watch(Waiter<?> waiter) {
      for (String key : waiter.keys) {
        if (!entries.containsKey(key) && waiter.watched.add(key)) {
          waitersByKey.computeIfAbsent(key, k -> new ArrayList<>(2)).add(waiter);
        }
      }
    }

    void unwatch(Waiter<?> waiter) {
      for (String key : waiter.watched) {
        List<Waiter<?>> list = waitersByKey.get(key);
        if (list != null) {
          list.remove(waiter);
          if (list.isEmpty()) {
            waitersByKey.remove(key);
          }
        }
      }
      waiter.watched.clear();
    }

    void withdraw(Waiter<?> waiter) {
      lock.lock();
      try {
        if (pending.remove(waiter)) {
          unwatch(waiter);
        }
      } finally {
        lock.unlock();
      }
    }

    KeyValueStats stats() {
      lock.lock();
      try {
        return new KeyValueStats(entries.size(), bytes, pending.size(), waitersByKey.size());
      } finally {
        lock.unlock();
      }
    }
  }
}
