package io.elasticmoe.operator.tcpstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Placement of listeners in the operator's port range ({@link TcpStoreEndpoints#serve}). */
class TcpStoreEndpointsTest {
  private static final DeploymentKey A = new DeploymentKey("team-a", "llm");
  private static final DeploymentKey B = new DeploymentKey("team-b", "llm");
  private static final DeploymentKey C = new DeploymentKey("team-c", "llm");

  private final ScheduledThreadPoolExecutor deadlines = new ScheduledThreadPoolExecutor(1);
  private final KeyValueCore core = new KeyValueCore(KeyValueLimits.DEFAULTS, deadlines);
  private TcpStoreEndpoints endpoints;

  @AfterEach
  void stop() {
    if (endpoints != null) {
      endpoints.close();
    }
    deadlines.shutdownNow();
  }

  private TcpStoreEndpoints endpoints(ListenerPortRange range) {
    endpoints = new TcpStoreEndpoints(core, TcpStoreLimits.DEFAULTS, "127.0.0.1", range);
    return endpoints;
  }

  private static ServerSocket foreignListener() throws Exception {
    ServerSocket socket = new ServerSocket();
    socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    return socket;
  }

  @Test
  void portsStayPutAcrossReconcilesAndAreNeverShared() throws Exception {
    try (ServerSocket foreign = foreignListener()) {
      int first = foreign.getLocalPort();
      TcpStoreEndpoints served = endpoints(new ListenerPortRange(first, first + 3));

      int portA = served.serve(A, null);
      assertThat(portA).as("the port another process holds is skipped").isNotEqualTo(first).isBetween(first, first + 3);
      assertThat(served.serve(A, null)).as("a second reconcile keeps it").isEqualTo(portA);
      assertThat(served.serve(A, first + 3)).as("a running listener wins over the status").isEqualTo(portA);

      int portB = served.serve(B, portA);
      assertThat(portB).as("A's port is not B's, whatever B's status says").isNotEqualTo(portA);
      assertThat(served.endpoint(B).orElseThrow().storeNamespace()).isEqualTo("team-b/llm");
    }
  }

  @Test
  void previousPortFromStatusIsReusedAfterARestart() throws Exception {
    int previous;
    try (ServerSocket probe = foreignListener()) {
      previous = probe.getLocalPort();
    }
    TcpStoreEndpoints served = endpoints(new ListenerPortRange(previous - 2, previous + 2));
    assertThat(served.serve(C, previous)).isEqualTo(previous);
  }

  @Test
  void exhaustedRangeIsAnErrorNamingTheRangeAndTheKnob() throws Exception {
    try (ServerSocket foreign = foreignListener()) {
      int port = foreign.getLocalPort();
      TcpStoreEndpoints served = endpoints(new ListenerPortRange(port, port));
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> served.serve(A, null));
      assertThat(e)
          .hasMessage(
              "tcpstore team-a/llm: no free listener port in "
                  + port
                  + "-"
                  + port
                  + " (0 held by other deployments); widen elasticmoe.tcpstore.listener-ports");
      assertThat(served.endpoint(A)).isEmpty();
    }
  }
}
