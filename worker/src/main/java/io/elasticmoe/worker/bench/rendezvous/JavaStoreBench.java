package io.elasticmoe.worker.bench.rendezvous;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The store benchmark with Java clients on both sides, laid out as the Python one: N client processes
 * ({@link StoreBenchClient}), each doing set then get on its own keys, against our server over
 * {@code Store.Session} or against PyTorch's TCPStore server over its wire protocol. All clients finish
 * their warm-up, then start together; throughput is all ops over the span from the first start to
 * the last end, latency is per set+get pair.
 */
public final class JavaStoreBench {
  /** The same small heap and collector for every client JVM, so 32 of them fit beside the servers. */
  private static final List<String> CLIENT_JVM = List.of("-XX:+UseSerialGC", "-Xms32m", "-Xmx128m");

  private final String java;
  private final String classpath;
  private final int pairs;
  private final int warmup;
  private final int valueBytes;
  private int run;

  /** One side and client count: ops (one set or one get) per second, and pair latency percentiles. */
  public record Result(String side, int clients, int pairs, double opsPerSecond, double pairP50Micros,
      double pairP99Micros) {}

  public JavaStoreBench(String java, String classpath, int pairs, int warmup, int valueBytes) {
    this.java = java;
    this.classpath = classpath;
    this.pairs = pairs;
    this.warmup = warmup;
    this.valueBytes = valueBytes;
  }

  /** Our server: {@code target} host:port, authenticated with {@code token} for {@code deployment}. */
  public Result session(int clients, String target, String token, String deployment)
      throws IOException, InterruptedException {
    return run("java-session", clients, List.of("session", target, token, deployment));
  }

  /** PyTorch's TCPStore server at {@code address}, spoken to in {@code dialect}. */
  public Result tcpStore(int clients, String address, TcpStoreDialect dialect)
      throws IOException, InterruptedException {
    return run("java-tcpstore", clients, List.of("tcpstore", address, dialect.name()));
  }

  private Result run(String side, int clients, List<String> sideArgs) throws IOException, InterruptedException {
    run++;
    List<Process> procs = new ArrayList<>();
    List<BufferedReader> outs = new ArrayList<>();
    try {
      for (int i = 0; i < clients; i++) {
        List<String> cmd = new ArrayList<>(List.of(java));
        cmd.addAll(CLIENT_JVM);
        cmd.addAll(List.of("-cp", classpath, StoreBenchClient.class.getName()));
        cmd.addAll(sideArgs);
        cmd.addAll(List.of(Integer.toString(run), Integer.toString(i), Integer.toString(pairs),
            Integer.toString(warmup), Integer.toString(valueBytes)));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        procs.add(p);
        outs.add(new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)));
      }
      for (int i = 0; i < clients; i++) {
        String line = outs.get(i).readLine();
        if (!"ready".equals(line)) {
          throw new IllegalStateException(side + " client " + i + " did not finish its warm-up: it printed " + line);
        }
      }
      for (Process p : procs) {
        OutputStream in = p.getOutputStream();
        in.write('\n');
        in.flush();
      }
      long start = Long.MAX_VALUE;
      long end = Long.MIN_VALUE;
      long[] latencies = new long[clients * pairs];
      for (int i = 0; i < clients; i++) {
        String line = outs.get(i).readLine();
        if (line == null) {
          throw new IllegalStateException(side + " client " + i + " exited without a result");
        }
        String[] fields = line.split(" ");
        start = Math.min(start, Long.parseLong(fields[0]));
        end = Math.max(end, Long.parseLong(fields[1]));
        for (int k = 0; k < pairs; k++) {
          latencies[i * pairs + k] = Long.parseLong(fields[2 + k]);
        }
      }
      for (int i = 0; i < clients; i++) {
        if (procs.get(i).waitFor() != 0) {
          throw new IllegalStateException(side + " client " + i + " exited with " + procs.get(i).exitValue());
        }
      }
      Arrays.sort(latencies);
      return new Result(side, clients, latencies.length, 2.0 * latencies.length / ((end - start) / 1e9),
          percentile(latencies, 0.50) / 1e3, percentile(latencies, 0.99) / 1e3);
    } finally {
      procs.forEach(Process::destroyForcibly);
    }
  }

  /** The nearest-rank percentile, as bench_rendezvous_store.py takes it. */
  private static long percentile(long[] sorted, double q) {
    int i = (int) Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
    return sorted[i];
  }
}
