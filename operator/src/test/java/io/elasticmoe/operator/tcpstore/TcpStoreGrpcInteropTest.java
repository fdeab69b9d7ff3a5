package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import io.elasticmoe.api.tcpstore.TcpStoreOp;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_B;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_B;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.authed;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.protobuf.ByteString;
import io.elasticmoe.api.rendezvous.v1alpha1.GetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.GetResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.SetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.operator.rendezvous.InProcessRendezvous;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The TCPStore endpoint and the gRPC StoreService over one KeyValueCore: one namespace, both ways. */
class TcpStoreGrpcInteropTest {
  private InProcessRendezvous rdzv;
  private TcpStoreEndpoints endpoints;
  private StoreGrpc.StoreBlockingStub grpcA;
  private int port;

  @BeforeEach
  void start() throws Exception {
    rdzv = new InProcessRendezvous();
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.spec(TOKEN_A, 1, 0));
    rdzv.registry.upsert(TEAM_B, InProcessRendezvous.spec(TOKEN_B, 1, 0));
    grpcA = authed(StoreGrpc.newBlockingStub(rdzv.channel()), TOKEN_A, TEAM_A);
    endpoints = new TcpStoreEndpoints(
            rdzv.core, TcpStoreLimits.DEFAULTS, "127.0.0.1", new ListenerPortRange(1, 65_535));
    port = endpoints.ensure(TEAM_A, 0);
  }

  @AfterEach
  void stop() throws Exception {
    endpoints.close();
    rdzv.close();
  }

  private void grpcSet(String key, String value) {
    grpcA.set(SetRequest.newBuilder().setKey(key).setValue(ByteString.copyFromUtf8(value)).build());
  }

  @Test
  void grpcSetIsReadByATcpStoreClientAndBack() throws Exception {
    grpcSet("NIXL_EP/0", "meta-0");
    try (TcpStoreWireClient c = new TcpStoreWireClient(port, TcpStoreDialect.PYTORCH_2)) {
      assertThat(c.get("NIXL_EP/0")).isEqualTo("meta-0".getBytes(UTF_8));
      c.set("NIXL_EP/1", "meta-1");
      assertThat(c.add("barrier", 1)).isEqualTo(1);
    }
    GetResponse got = grpcA.get(GetRequest.newBuilder().setKey("NIXL_EP/1").build());
    assertThat(got.getValue().toStringUtf8()).isEqualTo("meta-1");
  }

  @Test
  void tcpStoreWaitIsWokenByAGrpcSet() throws Exception {
    try (TcpStoreWireClient c = new TcpStoreWireClient(port, TcpStoreDialect.PYTORCH_1_13)) {
      c.send(c.frame(TcpStoreOp.WAIT).keys("peer/3"));
      await().untilAsserted(() -> assertThat(rdzv.core.stats("team-a/llm").waiters()).isEqualTo(1));
      grpcSet("peer/3", "up");
      assertThat(c.readU8()).as("STOP_WAITING").isZero();
    }
  }

  @Test
  void blockingGrpcGetIsWokenByATcpStoreSet() throws Exception {
    ListenableFuture<GetResponse> pending =
        authed(StoreGrpc.newFutureStub(rdzv.channel()), TOKEN_A, TEAM_A)
            .get(GetRequest.newBuilder().setKey("late").setWait(true).setTimeoutMillis(30_000).build());
    await().untilAsserted(() -> assertThat(rdzv.core.stats("team-a/llm").waiters()).isEqualTo(1));
    try (TcpStoreWireClient c = new TcpStoreWireClient(port, TcpStoreDialect.PYTORCH_2)) {
      c.set("late", "from-tcpstore");
      assertThat(pending.get(10, TimeUnit.SECONDS).getValue().toStringUtf8())
          .isEqualTo("from-tcpstore");
    }
  }

  @Test
  void anotherDeploymentSeesNoneOfTheEndpointsKeys() throws Exception {
    try (TcpStoreWireClient c = new TcpStoreWireClient(port, TcpStoreDialect.PYTORCH_2)) {
      c.set("secret", "a");
      assertThat(c.get("secret")).isEqualTo("a".getBytes(UTF_8));
    }
    StoreGrpc.StoreBlockingStub grpcB = authed(StoreGrpc.newBlockingStub(rdzv.channel()), TOKEN_B, TEAM_B);
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> grpcB.get(GetRequest.newBuilder().setKey("secret").build()));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
  }

  @Test
  void ensureIsIdempotentOnThePortAndRemoveStopsTheListener() throws Exception {
    assertThat(endpoints.ensure(TEAM_A, port)).isEqualTo(port);
    assertThat(endpoints.ensure(TEAM_A, 0)).as("0 keeps the running port").isEqualTo(port);
    int portB = endpoints.ensure(TEAM_B, 0);
    assertThat(portB).isNotEqualTo(port);
    assertThat(endpoints.endpoint(TEAM_B).orElseThrow().storeNamespace()).isEqualTo("team-b/llm");
    assertThat(endpoints.remove(TEAM_A)).isTrue();
    assertThat(endpoints.remove(TEAM_A)).isFalse();
    assertThat(endpoints.endpoint(TEAM_A)).isEmpty();
    assertThrows(java.io.IOException.class, () -> new TcpStoreWireClient(port, TcpStoreDialect.PYTORCH_2));
  }

  @Test
  void portOutsideTheTcpRangeIsRefusedWithTheValue() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> endpoints.ensure(TEAM_B, 70_000));
    assertThat(e).hasMessage("tcpstore port for team-b/llm is 70000; it must be between 0 and 65535");
  }
}
