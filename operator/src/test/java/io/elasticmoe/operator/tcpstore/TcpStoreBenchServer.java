package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ScheduledThreadPoolExecutor;

/**
 * Our TCPStore endpoint as a standalone process, for {@code tcpstore_bench.py} and for running
 * PyTorch clients elsewhere (the device machine): {@code java -cp operator/target/classes:
 * operator/target/test-classes io.elasticmoe.operator.tcpstore.TcpStoreBenchServer [HOST [PORT]]}.
 * Prints {@code LISTENING <port>} once it accepts connections and stops when stdin closes.
 */
public final class TcpStoreBenchServer {
  private TcpStoreBenchServer() {}

  public static void main(String[] args) throws IOException {
    String host = args.length > 0 ? args[0] : "127.0.0.1";
    int port = args.length > 1 ? Integer.parseInt(args[1]) : 0;
    ScheduledThreadPoolExecutor deadlines = new ScheduledThreadPoolExecutor(1);
    deadlines.setRemoveOnCancelPolicy(true);
    KeyValueCore core = new KeyValueCore(KeyValueLimits.DEFAULTS, deadlines);
    try (TcpStoreEndpoint endpoint =
        TcpStoreEndpoint.start(
            "bench", "bench/tcpstore", new InetSocketAddress(host, port), core,
            TcpStoreLimits.DEFAULTS)) {
      System.out.println("LISTENING " + endpoint.port());
      System.out.flush();
      while (System.in.read() >= 0) {
        // run until the parent closes stdin
      }
    } finally {
      deadlines.shutdownNow();
    }
  }
}
