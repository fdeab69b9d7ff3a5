package io.elasticmoe.operator.rendezvous.grpc;

import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_B;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_B;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.authed;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import io.elasticmoe.api.rendezvous.v1alpha1.AddRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.AppendRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.CheckRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.CompareSetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.DeleteKeyRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.GetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.GetResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.MultiGetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.MultiSetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.NumKeysRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.SetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.WaitRequest;
import io.elasticmoe.operator.rendezvous.InProcessRendezvous;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class StoreServiceTest {
  private InProcessRendezvous rdzv;
  private StoreGrpc.StoreBlockingStub a;
  private StoreGrpc.StoreFutureStub aAsync;

  @BeforeEach
  void start() throws Exception {
    rdzv = new InProcessRendezvous(new KeyValueLimits(64, 1024, 8, 4096, 16));
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.spec(TOKEN_A, 1, 0));
    rdzv.registry.upsert(TEAM_B, InProcessRendezvous.spec(TOKEN_B, 1, 0));
    a = authed(StoreGrpc.newBlockingStub(rdzv.channel()), TOKEN_A, TEAM_A);
    aAsync = authed(StoreGrpc.newFutureStub(rdzv.channel()), TOKEN_A, TEAM_A);
  }

  @AfterEach
  void stop() throws Exception {
    rdzv.close();
  }

  private static ByteString bs(String s) {
    return ByteString.copyFromUtf8(s);
  }

  private static StatusRuntimeException fails(Status.Code code, Runnable call) {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
    assertThat(e.getStatus().getCode()).isEqualTo(code);
    return e;
  }

  private static BadRequest.FieldViolation violation(StatusRuntimeException e) throws Exception {
    com.google.rpc.Status s = StatusProto.fromThrowable(e);
    return s.getDetails(0).unpack(BadRequest.class).getFieldViolations(0);
  }

  private static ErrorInfo errorInfo(StatusRuntimeException e) throws Exception {
    return StatusProto.fromThrowable(e).getDetails(0).unpack(ErrorInfo.class);
  }

  @Test
  void everyOperationRoundTrips() {
    a.set(SetRequest.newBuilder().setKey("k").setValue(bs("v")).build());
    assertThat(a.get(GetRequest.newBuilder().setKey("k").build()).getValue()).isEqualTo(bs("v"));
    assertThat(a.add(AddRequest.newBuilder().setKey("c").setDelta(5).build()).getValue()).isEqualTo(5);
    assertThat(a.compareSet(CompareSetRequest.newBuilder().setKey("k").setExpected(bs("v")).setDesired(bs("w")).build())
        .getValue()).isEqualTo(bs("w"));
    assertThat(a.check(CheckRequest.newBuilder().addKeys("k").addKeys("c").build()).getAllExist()).isTrue();
    a.multiSet(MultiSetRequest.newBuilder().addKeys("x").addValues(bs("1")).addKeys("y").addValues(bs("2")).build());
    assertThat(a.multiGet(MultiGetRequest.newBuilder().addKeys("y").addKeys("x").build()).getValuesList())
        .containsExactly(bs("2"), bs("1"));
    assertThat(a.append(AppendRequest.newBuilder().setKey("x").setValue(bs("+")).build()).getLength()).isEqualTo(2);
    assertThat(a.numKeys(NumKeysRequest.getDefaultInstance()).getNumKeys()).isEqualTo(4);
    assertThat(a.deleteKey(DeleteKeyRequest.newBuilder().setKey("k").build()).getExisted()).isTrue();
    a.wait(WaitRequest.newBuilder().addKeys("x").addKeys("y").build());
  }

  @Test
  void aBlockingGetIsWokenByALaterSet() throws Exception {
    var pending = aAsync.get(GetRequest.newBuilder().setKey("NIXL_EP/1").setWait(true).build());
    await().atMost(Duration.ofSeconds(10)).untilAsserted(
        () -> assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isEqualTo(1));
    assertThat(pending).isNotDone();
    a.set(SetRequest.newBuilder().setKey("NIXL_EP/1").setValue(bs("meta")).build());
    GetResponse got = pending.get(10, TimeUnit.SECONDS);
    assertThat(got.getValue()).isEqualTo(bs("meta"));
  }

  @Test
  void aNonBlockingGetOfAMissingKeyIsNotFound() throws Exception {
    StatusRuntimeException e = fails(Status.Code.NOT_FOUND, () -> a.get(GetRequest.newBuilder().setKey("nope").build()));
    assertThat(e.getStatus().getDescription()).isEqualTo("store key 'nope' does not exist in namespace team-a/llm");
    assertThat(errorInfo(e).getReason()).isEqualTo("StoreKeyMissing");
  }

  @Test
  void timeoutMillisIsHonouredAndLeavesNoWaiter() throws Exception {
    StatusRuntimeException e = fails(Status.Code.DEADLINE_EXCEEDED,
        () -> a.wait(WaitRequest.newBuilder().addKeys("never").setTimeoutMillis(50).build()));
    assertThat(e.getStatus().getDescription()).isEqualTo("store keys [never] did not all exist within 50 ms");
    assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isZero();
  }

  @Test
  void theCallDeadlineBoundsABlockingGetAndLeavesNoWaiter() {
    fails(Status.Code.DEADLINE_EXCEEDED, () -> a.withDeadlineAfter(100, TimeUnit.MILLISECONDS)
        .get(GetRequest.newBuilder().setKey("never").setWait(true).build()));
    await().atMost(Duration.ofSeconds(10)).untilAsserted(
        () -> assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isZero());
  }

  @Test
  void cancelledCallsLeaveNoWaiters() {
    List<com.google.common.util.concurrent.ListenableFuture<?>> calls = new java.util.ArrayList<>();
    for (int i = 0; i < 10; i++) {
      calls.add(aAsync.multiGet(MultiGetRequest.newBuilder().addKeys("k" + i).addKeys("shared").build()));
    }
    await().atMost(Duration.ofSeconds(10)).untilAsserted(
        () -> assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isEqualTo(10));
    calls.forEach(c -> c.cancel(true));
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
      assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isZero();
      assertThat(rdzv.core.stats(TEAM_A.toString()).watchedKeys()).isZero();
    });
  }

  @Test
  void oversizedKeysAndValuesAreInvalidArgumentsNamingTheField() throws Exception {
    StatusRuntimeException key = fails(Status.Code.INVALID_ARGUMENT,
        () -> a.set(SetRequest.newBuilder().setKey("k".repeat(65)).setValue(bs("v")).build()));
    assertThat(key.getStatus().getDescription()).isEqualTo("key bytes is 65; the limit (maxKeyBytes) is 64");
    assertThat(violation(key).getField()).isEqualTo("key bytes");
    StatusRuntimeException value = fails(Status.Code.INVALID_ARGUMENT,
        () -> a.set(SetRequest.newBuilder().setKey("k").setValue(ByteString.copyFrom(new byte[1025])).build()));
    assertThat(value.getStatus().getDescription()).isEqualTo("value bytes is 1025; the limit (maxValueBytes) is 1024");
    StatusRuntimeException empty = fails(Status.Code.INVALID_ARGUMENT,
        () -> a.set(SetRequest.newBuilder().setValue(bs("v")).build()));
    assertThat(empty.getStatus().getDescription()).isEqualTo("key bytes is 0; a key must have at least 1");
    StatusRuntimeException noKeys = fails(Status.Code.INVALID_ARGUMENT,
        () -> a.check(CheckRequest.getDefaultInstance()));
    assertThat(noKeys.getStatus().getDescription()).isEqualTo("keys count is 0; a call must name at least 1");
    StatusRuntimeException mismatch = fails(Status.Code.INVALID_ARGUMENT,
        () -> a.multiSet(MultiSetRequest.newBuilder().addKeys("a").addKeys("b").addValues(bs("1")).build()));
    assertThat(mismatch.getStatus().getDescription()).isEqualTo("values count is 1; it must equal the keys count 2");
    StatusRuntimeException timeout = fails(Status.Code.INVALID_ARGUMENT,
        () -> a.wait(WaitRequest.newBuilder().addKeys("a").setTimeoutMillis(3_600_001).build()));
    assertThat(timeout.getStatus().getDescription()).isEqualTo("timeout_millis is 3600001; it must be at most 3600000 (1 h)");
    assertThat(violation(timeout).getField()).isEqualTo("timeout_millis");
  }

  @Test
  void theByteQuotaIsResourceExhausted() throws Exception {
    for (int i = 0; i < 4; i++) {
      a.set(SetRequest.newBuilder().setKey("k" + i).setValue(ByteString.copyFrom(new byte[1000])).build());
    }
    StatusRuntimeException e = fails(Status.Code.RESOURCE_EXHAUSTED,
        () -> a.set(SetRequest.newBuilder().setKey("k9").setValue(ByteString.copyFrom(new byte[1024])).build()));
    assertThat(e.getStatus().getDescription())
        .isEqualTo("store namespace team-a/llm would hold 5034 bytes; the quota is 4096 (KeyValueLimits)");
    assertThat(errorInfo(e).getReason()).isEqualTo("StoreQuotaExceeded");
  }

  @Test
  void addOnANonCounterIsFailedPrecondition() {
    a.set(SetRequest.newBuilder().setKey("t").setValue(bs("text")).build());
    StatusRuntimeException e = fails(Status.Code.FAILED_PRECONDITION,
        () -> a.add(AddRequest.newBuilder().setKey("t").setDelta(1).build()));
    assertThat(e.getStatus().getDescription()).isEqualTo("store key 't' holds 4 bytes that are not a decimal 64-bit counter");
  }

  @Test
  void deploymentsCannotSeeEachOthersKeys() {
    var b = authed(StoreGrpc.newBlockingStub(rdzv.channel()), TOKEN_B, TEAM_B);
    a.set(SetRequest.newBuilder().setKey("secret").setValue(bs("a")).build());
    fails(Status.Code.NOT_FOUND, () -> b.get(GetRequest.newBuilder().setKey("secret").build()));
    b.set(SetRequest.newBuilder().setKey("secret").setValue(bs("b")).build());
    assertThat(a.get(GetRequest.newBuilder().setKey("secret").build()).getValue()).isEqualTo(bs("a"));
  }

  @Test
  void callsAreCountedByMethodAndCode() {
    a.set(SetRequest.newBuilder().setKey("k").setValue(bs("v")).build());
    fails(Status.Code.NOT_FOUND, () -> a.get(GetRequest.newBuilder().setKey("nope").build()));
    assertThat(rdzv.meters.get("elasticmoe.rendezvous.calls").tags("method", "Set", "code", "OK").timer().count())
        .isEqualTo(1);
    assertThat(rdzv.meters.get("elasticmoe.rendezvous.calls").tags("method", "Get", "code", "NOT_FOUND").timer().count())
        .isEqualTo(1);
    assertThat(rdzv.meters.get("elasticmoe.rendezvous.store.keys").gauge().value()).isEqualTo(1.0);
  }
}
