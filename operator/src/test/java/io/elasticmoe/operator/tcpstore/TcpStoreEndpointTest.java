package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import io.elasticmoe.api.tcpstore.TcpStoreOp;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class TcpStoreEndpointTest {
  private static final String NS = "team-a/llm";

  private final ScheduledThreadPoolExecutor deadlines = new ScheduledThreadPoolExecutor(1);
  private final KeyValueCore core = new KeyValueCore(KeyValueLimits.DEFAULTS, deadlines);
  private final List<TcpStoreEndpoint> endpoints = new ArrayList<>();

  TcpStoreEndpointTest() {
    deadlines.setRemoveOnCancelPolicy(true);
  }

  @AfterEach
  void stop() {
    endpoints.forEach(TcpStoreEndpoint::close);
    deadlines.shutdownNow();
  }

  private TcpStoreEndpoint start(TcpStoreLimits limits) {
    TcpStoreEndpoint endpoint =
        TcpStoreEndpoint.start(NS, NS, new InetSocketAddress("127.0.0.1", 0), core, limits);
    endpoints.add(endpoint);
    return endpoint;
  }

  private TcpStoreEndpoint start() {
    return start(TcpStoreLimits.DEFAULTS);
  }

  private static TcpStoreLimits limits(int maxConnections, long maxOutboundBytes, Duration stall) {
    return new TcpStoreLimits(
        maxConnections, 1 << 20, maxOutboundBytes, 4, stall, Duration.ofMinutes(5));
  }

  private static byte[] b(String s) {
    return s.getBytes(UTF_8);
  }

  @ParameterizedTest
  @EnumSource(TcpStoreDialect.class)
  void servesEveryOpOfBothDialectsOnTheSharedNamespace(TcpStoreDialect dialect) throws Exception {
    TcpStoreEndpoint endpoint = start();
    try (TcpStoreWireClient c = new TcpStoreWireClient(endpoint.port(), dialect)) {
      c.set("/a", "1");
      // SET has no reply: a round trip on the same connection orders it before the core read.
      assertThat(c.get("/a")).isEqualTo(b("1"));
      assertThat(core.getExisting(NS, "/a")).as("set is visible in the core").isEqualTo(b("1"));
      core.set(NS, "/from-grpc", b("g"));
      assertThat(c.get("/from-grpc")).as("core writes are visible").isEqualTo(b("g"));
      assertThat(c.add("/ctr", 5)).isEqualTo(5);
      assertThat(c.add("/ctr", -7)).isEqualTo(-2);
      assertThat(core.getExisting(NS, "/ctr")).isEqualTo(b("-2"));

      c.send(c.frame(TcpStoreOp.COMPARE_SET).str("/a").str("1").str("2"));
      assertThat(c.readBytes()).isEqualTo(b("2"));
      c.send(c.frame(TcpStoreOp.COMPARE_SET).str("/a").str("1").str("3"));
      assertThat(c.readBytes()).as("mismatch answers the current value").isEqualTo(b("2"));
      c.send(c.frame(TcpStoreOp.COMPARE_SET).str("/absent").str("x").str("y"));
      assertThat(c.readBytes()).as("absent key answers expected, as TCPStore").isEqualTo(b("x"));

      c.send(c.frame(TcpStoreOp.CHECK).keys("/a", "/ctr"));
      assertThat(c.readU8()).as("READY").isEqualTo(0);
      c.send(c.frame(TcpStoreOp.CHECK).keys("/a", "/nope"));
      assertThat(c.readU8()).as("NOT_READY").isEqualTo(1);

      c.send(c.frame(TcpStoreOp.GET_NUM_KEYS));
      // "/a", "/from-grpc", "/ctr"; the failed compare_set of "/absent" created nothing.
      assertThat(c.readI64()).isEqualTo(core.numKeys(NS)).isEqualTo(3);
      c.send(c.frame(TcpStoreOp.DELETE_KEY).str("/from-grpc"));
      assertThat(c.readI64()).isEqualTo(1);
      c.send(c.frame(TcpStoreOp.DELETE_KEY).str("/from-grpc"));
      assertThat(c.readI64()).isZero();

      c.send(c.frame(TcpStoreOp.APPEND).str("/log").str("ab"));
      c.send(c.frame(TcpStoreOp.APPEND).str("/log").str("cd"));
      c.send(c.frame(TcpStoreOp.MULTI_SET).i64(2).str("/m1").str("v1").str("/m2").str("v2"));
      c.send(c.frame(TcpStoreOp.MULTI_GET).keys("/m2", "/log", "/m1"));
      assertThat(new String(c.readBytes(), UTF_8)).isEqualTo("v2");
      assertThat(new String(c.readBytes(), UTF_8)).isEqualTo("abcd");
      assertThat(new String(c.readBytes(), UTF_8)).isEqualTo("v1");
    }
  }

  @Test
  void pingEchoesTheNonceForPyTorch2Clients() throws Exception {
    TcpStoreEndpoint endpoint = start();
    try (TcpStoreWireClient c = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2)) {
      c.send(c.frame(TcpStoreOp.PING).u32(0xCAFE1234));
      assertThat(c.readU32()).isEqualTo(0xCAFE1234);
    }
  }

  @Test
  void listKeysAnswersEveryKeyOfTheNamespace() throws Exception {
    TcpStoreEndpoint endpoint = start();
    core.set(NS, "/a", b("1"));
    core.set(NS, "/é", b("2"));
    core.set("team-b/other", "/hidden", b("3"));
    try (TcpStoreWireClient c = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2)) {
      c.send(c.frame(TcpStoreOp.LIST_KEYS));
      long count = c.readI64();
      List<String> keys = new ArrayList<>();
      for (long i = 0; i < count; i++) {
        keys.add(new String(c.readBytes(), UTF_8));
      }
      assertThat(keys).containsExactlyInAnyOrder("/a", "/é");
    }
  }

  @ParameterizedTest
  @EnumSource(TcpStoreDialect.class)
  void blockingWaitIsWokenByACoreSetWithoutPolling(TcpStoreDialect dialect) throws Exception {
    TcpStoreEndpoint endpoint = start();
    try (TcpStoreWireClient c = new TcpStoreWireClient(endpoint.port(), dialect)) {
      c.send(c.frame(TcpStoreOp.WAIT).keys("/x", "/y"));
      await().untilAsserted(() -> assertThat(core.stats(NS).waiters()).isEqualTo(1));
      core.set(NS, "/x", b("1"));
      core.multiSet(NS, List.of("/y"), List.of(b("2")));
      assertThat(c.readU8()).as("STOP_WAITING").isEqualTo(0);
      assertThat(core.stats(NS).waiters()).isZero();
    }
  }

  @Test
  void cancelWaitWithdrawsTheWaiterAndAnswersWaitCanceled() throws Exception {
    TcpStoreEndpoint endpoint = start();
    try (TcpStoreWireClient c = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2)) {
      c.send(c.frame(TcpStoreOp.WAIT).keys("/never"));
      await().untilAsserted(() -> assertThat(core.stats(NS).waiters()).isEqualTo(1));
      c.send(c.frame(TcpStoreOp.CANCEL_WAIT));
      assertThat(c.readU8()).as("WAIT_CANCELED").isEqualTo(1);
      assertThat(core.stats(NS).waiters()).isZero();
      core.set(NS, "/never", b("late"));
      assertThat(c.get("/never")).as("no stray STOP_WAITING precedes the reply").isEqualTo(b("late"));
    }
  }

  @Test
  void closingAConnectionMidWaitLeavesNoWaiter() throws Exception {
    TcpStoreEndpoint endpoint = start();
    TcpStoreWireClient c = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_1_13);
    c.send(c.frame(TcpStoreOp.WAIT).keys("/never"));
    await().untilAsserted(() -> assertThat(core.stats(NS).waiters()).isEqualTo(1));
    c.close();
    await().untilAsserted(() -> {
      assertThat(core.stats(NS).waiters()).isZero();
      assertThat(core.stats(NS).watchedKeys()).isZero();
      assertThat(endpoint.openConnections()).isZero();
    });
  }

  @Test
  void malformedFrameClosesOnlyThatConnection() throws Exception {
    TcpStoreEndpoint endpoint = start();
    try (TcpStoreWireClient good = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2);
        TcpStoreWireClient bad = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2)) {
      good.set("/k", "v");
      // A key length of 2^40 bytes: refused as soon as the length is read.
      bad.send(bad.frame(TcpStoreOp.SET).i64(1L << 40));
      assertThat(bad.closedByServer()).isTrue();
      assertThat(good.get("/k")).isEqualTo(b("v"));
      await().untilAsserted(() -> assertThat(endpoint.openConnections()).isEqualTo(1));
    }
  }

  @Test
  void secondValidateIsNotAQueryAndClosesTheConnection() throws Exception {
    TcpStoreEndpoint endpoint = start();
    try (TcpStoreWireClient c = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2)) {
      c.send(c.frame(TcpStoreOp.VALIDATE).u32(TcpStoreDialect.VALIDATION_MAGIC));
      assertThat(c.closedByServer()).as("a second VALIDATE is not a query").isTrue();
    }
  }

  @Test
  void clientThatStopsMidQueryIsClosedAfterTheStallTimeout() throws Exception {
    TcpStoreEndpoint endpoint = start(limits(8, 1 << 20, Duration.ofMillis(300)));
    try (TcpStoreWireClient idle = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_1_13);
        TcpStoreWireClient stalled =
            new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_1_13)) {
      stalled.sendRaw(stalled.frame(TcpStoreOp.SET).str("/k").i64(100).raw(new byte[10]).bytes());
      assertThat(stalled.closedByServer()).isTrue();
      assertThat(idle.add("/c", 1)).as("an idle connection between queries is kept").isEqualTo(1);
      assertThat(core.tryGet(NS, "/k")).as("the partial set never applied").isEmpty();
    }
  }

  @Test
  void slowReaderIsClosedOnceItsUnreadRepliesExceedTheLimit() throws Exception {
    TcpStoreEndpoint endpoint = start(limits(8, 256 << 10, Duration.ofSeconds(30)));
    core.set(NS, "/big", new byte[64 << 10]);
    try (TcpStoreWireClient slow =
        new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_1_13, 4096)) {
      TcpStoreWireClient.Frame gets = slow.frame(TcpStoreOp.GET).str("/big");
      for (int i = 0; i < 2000; i++) {
        gets.u8(TcpStoreDialect.PYTORCH_1_13.code(TcpStoreOp.GET)).str("/big");
      }
      slow.sendRaw(gets.bytes());
      await().untilAsserted(() -> assertThat(endpoint.openConnections()).isZero());
    }
  }

  @Test
  void connectionsBeyondTheLimitAreRefused() throws Exception {
    TcpStoreEndpoint endpoint = start(limits(2, 1 << 20, Duration.ofSeconds(30)));
    try (TcpStoreWireClient a = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2);
        TcpStoreWireClient b = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2)) {
      a.set("/a", "1");
      b.set("/b", "1");
      await().untilAsserted(() -> assertThat(endpoint.openConnections()).isEqualTo(2));
      try (TcpStoreWireClient c = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2)) {
        assertThat(c.closedByServer()).isTrue();
      }
      assertThat(a.get("/b")).isEqualTo(b("1"));
    }
  }

  @Test
  void storeRefusalClosesTheConnectionAndChangesNothing() throws Exception {
    TcpStoreEndpoint endpoint = start();
    core.set(NS, "/text", b("not a number"));
    try (TcpStoreWireClient c = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2)) {
      c.send(c.frame(TcpStoreOp.ADD).str("/text").i64(1));
      assertThat(c.closedByServer()).isTrue();
    }
    assertThat(core.getExisting(NS, "/text")).isEqualTo(b("not a number"));
  }

  @Test
  void closeStopsListeningAndWithdrawsWaits() throws Exception {
    TcpStoreEndpoint endpoint = start();
    TcpStoreWireClient c = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2);
    c.send(c.frame(TcpStoreOp.WAIT).keys("/never"));
    await().untilAsserted(() -> assertThat(core.stats(NS).waiters()).isEqualTo(1));
    endpoint.close();
    assertThat(c.closedByServer()).isTrue();
    assertThat(core.stats(NS).waiters()).isZero();
    assertThat(endpoint.openConnections()).isZero();
    c.close();
  }
}
