package io.elasticmoe.worker.bench.dataplane;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The baseline: {@code ucx_perftest -t ucp_put_bw} between two processes of this host at one message
 * size, over the same UCX transports as the backend. Returns the "Final" overall bandwidth.
 */
public final class UcxPerftestBaseline {

  private UcxPerftestBaseline() {}

  /** Bandwidth in GB/s (10^9 bytes); ucx_perftest prints MB/s with MB = 2^20 bytes. */
  public static double putBandwidthGBps(long messageBytes, int iterations, String transports)
      throws IOException, InterruptedException {
    int port;
    try (ServerSocket probe = new ServerSocket(0)) {
      port = probe.getLocalPort();
    }
    Map<String, String> env = Map.of("UCX_TLS", transports);
    Process server = start(List.of("ucx_perftest", "-p", Integer.toString(port)), env);
    try {
      // The client connects by retrying: the server may not listen yet.
      for (int attempt = 0; attempt < 50; attempt++) {
        Process client = start(
            List.of("ucx_perftest", "127.0.0.1", "-p", Integer.toString(port), "-t", "ucp_put_bw", "-s",
                Long.toString(messageBytes), "-n", Integer.toString(iterations)),
            env);
        List<String> lines = readAll(client);
        client.waitFor(120, TimeUnit.SECONDS);
        for (String line : lines) {
          if (line.startsWith("Final:")) {
            String[] columns = line.trim().split("\\s+");
            return Double.parseDouble(columns[6]) * 1024 * 1024 / 1e9;
          }
        }
        Thread.sleep(100);
      }
      throw new IOException("ucx_perftest printed no Final line for " + messageBytes + "-byte puts after 50 attempts");
    } finally {
      server.destroy();
      server.waitFor(10, TimeUnit.SECONDS);
    }
  }

  private static Process start(List<String> command, Map<String, String> env) throws IOException {
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().putAll(env);
    try {
      return builder.start();
    } catch (IOException e) {
      throw new IOException("cannot run " + command.get(0) + " (apt-get install -y ucx-utils): " + e.getMessage(), e);
    }
  }

  private static List<String> readAll(Process process) throws IOException {
    List<String> lines = new ArrayList<>();
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream()))) {
      String line;
      while ((line = reader.readLine()) != null) {
        lines.add(line);
      }
    }
    return lines;
  }
}
