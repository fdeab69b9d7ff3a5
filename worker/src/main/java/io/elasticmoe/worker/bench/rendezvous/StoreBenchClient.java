package io.elasticmoe.worker.bench.rendezvous;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import io.elasticmoe.worker.rendezvous.RendezvousClient;
import io.elasticmoe.worker.rendezvous.RendezvousIdentity;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;

/**
 * One client process of the Java store benchmark ({@link JavaStoreBench} starts N of them): set then
 * get on its own keys, the same loop as the Python clients of {@code bench_rendezvous_store.py}.
 *
 * <pre>
 * StoreBenchClient session HOST:PORT TOKEN NS/NAME RUN INDEX PAIRS WARMUP VALUE_BYTES
 * StoreBenchClient tcpstore HOST:PORT DIALECT RUN INDEX PAIRS WARMUP VALUE_BYTES
 * </pre>
 *
 * It runs WARMUP untimed pairs, prints {@code ready}, waits for a line on stdin, runs PAIRS timed
 * pairs and prints {@code START_NS END_NS LAT_NS...}. Times are {@code System.nanoTime()}, which on
 * Linux is CLOCK_MONOTONIC, one clock for every process of the host (Python's perf_counter too), so
 * the parent can take the run's span across processes.
 */
public final class StoreBenchClient {
  private static final Duration GET_TIMEOUT = Duration.ofSeconds(30);
  private static final int WARMUP_KEYS = 1000;

  @FunctionalInterface
  private interface Pair {
    void run(String key) throws Exception;
  }

  private StoreBenchClient() {}

  public static void main(String[] args) throws Exception {
    String side = args[0];
    int rest = side.equals("session") ? 4 : 3;
    int run = Integer.parseInt(args[rest]);
    int index = Integer.parseInt(args[rest + 1]);
    int pairs = Integer.parseInt(args[rest + 2]);
    int warmup = Integer.parseInt(args[rest + 3]);
    byte[] value = new byte[Integer.parseInt(args[rest + 4])];
    Arrays.fill(value, (byte) 'v');
    switch (side) {
      case "session" -> {
        String[] deployment = args[3].split("/", 2);
        try (RendezvousClient client = RendezvousClient.connect(new RendezvousIdentity(
            args[1], deployment[0], deployment[1], index, "bench-" + run + "-" + index, "bench", "local", args[2]))) {
          var store = client.store();
          loop(run, index, pairs, warmup, key -> {
            store.set(key, value);
            check(key, store.get(key, GET_TIMEOUT), value.length);
          });
        }
      }
      case "tcpstore" -> {
        String[] hostPort = args[1].split(":", 2);
        try (TcpStoreWireClient store = new TcpStoreWireClient(hostPort[0], Integer.parseInt(hostPort[1]),
            TcpStoreDialect.valueOf(args[2]))) {
          loop(run, index, pairs, warmup, key -> {
            store.set(key, value);
            check(key, store.get(key), value.length);
          });
        }
      }
      default -> throw new IllegalArgumentException("side is " + side + "; use session or tcpstore");
    }
  }

  private static void check(String key, byte[] got, int expected) {
    if (got.length != expected) {
      throw new IllegalStateException("get of " + key + " returned " + got.length + " bytes, set " + expected);
    }
  }

  private static void loop(int run, int index, int pairs, int warmup, Pair pair) throws Exception {
    // The warm-up cycles over a bounded set of keys (set overwrites, get reads back), the same on both
    // sides: fresh keys for 30000 pairs x 32 clients would exceed the store's 64 MiB namespace quota.
    for (int i = 0; i < warmup; i++) {
      pair.run("warm/" + run + "/" + index + "/" + i % WARMUP_KEYS);
    }
    System.out.println("ready");
    System.out.flush();
    if (new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine() == null) {
      throw new IOException("the benchmark driver went away before the start signal");
    }
    long[] latencies = new long[pairs];
    long start = System.nanoTime();
    for (int i = 0; i < pairs; i++) {
      long s = System.nanoTime();
      pair.run("bench/" + run + "/" + index + "/" + i);
      latencies[i] = System.nanoTime() - s;
    }
    long end = System.nanoTime();
    StringBuilder line = new StringBuilder(pairs * 8).append(start).append(' ').append(end);
    for (long l : latencies) {
      line.append(' ').append(l);
    }
    System.out.println(line);
    System.out.flush();
  }
}
