package io.elasticmoe.operator.rendezvous.grpc;

import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_B;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_B;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.authed;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import io.elasticmoe.api.rendezvous.v1alpha1.AddRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.AppendRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.CheckRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.CompareSetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.DeleteKeyRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.GetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.MultiGetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.MultiSetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.NumKeysRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.SetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreError;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.WaitRequest;
import io.elasticmoe.operator.rendezvous.InProcessRendezvous;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Store.Session over the real services: every operation, per-operation errors, auth, waiters. */
class StoreSessionTest {
  private static final long WAIT_SECONDS = 10;
  private InProcessRendezvous rdzv;
  private StoreGrpc.StoreBlockingStub unaryA;

  @BeforeEach
  void start() throws Exception {
    rdzv = new InProcessRendezvous(new KeyValueLimits(64, 1024, 8, 4096, 16));
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.spec(TOKEN_A, 1, 0));
    rdzv.registry.upsert(TEAM_B, InProcessRendezvous.spec(TOKEN_B, 1, 0));
    unaryA = authed(StoreGrpc.newBlockingStub(rdzv.channel()), TOKEN_A, TEAM_A);
  }

  @AfterEach
  void stop() throws Exception {
    rdzv.close();
  }

  /** The client end of one session: requests go out in order, responses are taken in order. */
  private static final class Session implements ClientResponseObserver<StoreRequest, StoreResponse> {
    final BlockingQueue<StoreResponse> responses = new LinkedBlockingQueue<>();
    final CompletableFuture<Status> end = new CompletableFuture<>();
    ClientCallStreamObserver<StoreRequest> requests;
    long nextId;

    static Session open(Channel channel, String token, DeploymentKey deployment) {
      Session s = new Session();
      authed(StoreGrpc.newStub(channel), token, deployment).session(s);
      return s;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<StoreRequest> call) {
      requests = call;
    }

    @Override
    public void onNext(StoreResponse response) {
      responses.add(response);
    }

    @Override
    public void onError(Throwable t) {
      end.complete(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      end.complete(Status.OK);
    }

    long send(StoreRequest.Builder request) {
      long id = ++nextId;
      requests.onNext(request.setId(id).build());
      return id;
    }

    StoreResponse next() throws InterruptedException {
      StoreResponse r = responses.poll(WAIT_SECONDS, TimeUnit.SECONDS);
      assertThat(r).as("a session response within %d s", WAIT_SECONDS).isNotNull();
      return r;
    }

    StoreResponse call(StoreRequest.Builder request) throws InterruptedException {
      long id = send(request);
      StoreResponse r = next();
      assertThat(r.getId()).isEqualTo(id);
      return r;
    }

    StoreError error(StoreRequest.Builder request, Code code) throws InterruptedException {
      StoreResponse r = call(request);
      assertThat(r.getResultCase()).isEqualTo(StoreResponse.ResultCase.ERROR);
      assertThat(r.getError().getCode()).isEqualTo(code.getNumber());
      return r.getError();
    }

    Status endStatus() throws Exception {
      return end.get(WAIT_SECONDS, TimeUnit.SECONDS);
    }
  }

  private static ByteString bs(String s) {
    return ByteString.copyFromUtf8(s);
  }

  private static StoreRequest.Builder set(String key, String value) {
    return StoreRequest.newBuilder().setSet(SetRequest.newBuilder().setKey(key).setValue(bs(value)));
  }

  private static StoreRequest.Builder waitingGet(String key) {
    return StoreRequest.newBuilder().setGet(GetRequest.newBuilder().setKey(key).setWait(true));
  }

  private Session sessionA() {
    return Session.open(rdzv.channel(), TOKEN_A, TEAM_A);
  }

  private void awaitWaiters(int count) {
    await().atMost(Duration.ofSeconds(WAIT_SECONDS)).untilAsserted(() -> {
      assertThat(rdzv.core.stats(TEAM_A.toString()).waiters()).isEqualTo(count);
      if (count == 0) {
        assertThat(rdzv.core.stats(TEAM_A.toString()).watchedKeys()).isZero();
      }
    });
  }

  @Test
  void everyOperationRoundTripsOnOneSession() throws Exception {
    Session s = sessionA();
    assertThat(s.call(set("k", "v")).hasSet()).isTrue();
    assertThat(s.call(waitingGet("k")).getGet().getValue()).isEqualTo(bs("v"));
    assertThat(s.call(StoreRequest.newBuilder().setGet(GetRequest.newBuilder().setKey("k"))).getGet().getValue())
        .isEqualTo(bs("v"));
    assertThat(s.call(StoreRequest.newBuilder().setAdd(AddRequest.newBuilder().setKey("c").setDelta(5)))
        .getAdd().getValue()).isEqualTo(5);
    assertThat(s.call(StoreRequest.newBuilder().setCompareSet(
        CompareSetRequest.newBuilder().setKey("k").setExpected(bs("v")).setDesired(bs("w")))).getCompareSet().getValue())
        .isEqualTo(bs("w"));
    assertThat(s.call(StoreRequest.newBuilder().setCheck(CheckRequest.newBuilder().addKeys("k").addKeys("c")))
        .getCheck().getAllExist()).isTrue();
    assertThat(s.call(StoreRequest.newBuilder().setMultiSet(
        MultiSetRequest.newBuilder().addKeys("x").addValues(bs("1")).addKeys("y").addValues(bs("2")))).hasMultiSet())
        .isTrue();
    assertThat(s.call(StoreRequest.newBuilder().setMultiGet(MultiGetRequest.newBuilder().addKeys("y").addKeys("x")))
        .getMultiGet().getValuesList()).containsExactly(bs("2"), bs("1"));
    assertThat(s.call(StoreRequest.newBuilder().setAppend(AppendRequest.newBuilder().setKey("x").setValue(bs("+"))))
        .getAppend().getLength()).isEqualTo(2);
    assertThat(s.call(StoreRequest.newBuilder().setNumKeys(NumKeysRequest.getDefaultInstance()))
        .getNumKeys().getNumKeys()).isEqualTo(4);
    assertThat(s.call(StoreRequest.newBuilder().setDeleteKey(DeleteKeyRequest.newBuilder().setKey("k")))
        .getDeleteKey().getExisted()).isTrue();
    assertThat(s.call(StoreRequest.newBuilder().setWait(WaitRequest.newBuilder().addKeys("x").addKeys("y"))).hasWait())
        .isTrue();
    // The session's writes are the unary calls' store: one namespace.
    assertThat(unaryA.get(GetRequest.newBuilder().setKey("x").build()).getValue()).isEqualTo(bs("1+"));
    s.requests.onCompleted();
    assertThat(s.endStatus().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void pipelinedRequestsAreAnsweredInOrder() throws Exception {
    Session s = sessionA();
    List<Long> ids = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      ids.add(s.send(StoreRequest.newBuilder().setAdd(AddRequest.newBuilder().setKey("counter").setDelta(1))));
    }
    for (int i = 0; i < 200; i++) {
      StoreResponse r = s.next();
      assertThat(r.getId()).isEqualTo(ids.get(i));
      assertThat(r.getAdd().getValue()).isEqualTo(i + 1);
    }
  }

  @Test
  void anOperationsErrorIsItsResponseAndTheSessionGoesOn() throws Exception {
    Session s = sessionA();
    StoreError key = s.error(set("k".repeat(65), "v"), Code.INVALID_ARGUMENT);
    assertThat(key.getMessage()).isEqualTo("key bytes is 65; the limit (maxKeyBytes) is 64");
    assertThat(key.getDetails(0).unpack(BadRequest.class).getFieldViolations(0).getField()).isEqualTo("key bytes");
    StoreError missing = s.error(StoreRequest.newBuilder().setGet(GetRequest.newBuilder().setKey("nope")),
        Code.NOT_FOUND);
    assertThat(missing.getMessage()).isEqualTo("store key 'nope' does not exist in namespace team-a/llm");
    assertThat(missing.getDetails(0).unpack(ErrorInfo.class).getReason()).isEqualTo("StoreKeyMissing");
    s.call(set("t", "text"));
    StoreError counter = s.error(StoreRequest.newBuilder().setAdd(AddRequest.newBuilder().setKey("t").setDelta(1)),
        Code.FAILED_PRECONDITION);
    assertThat(counter.getMessage()).isEqualTo("store key 't' holds 4 bytes that are not a decimal 64-bit counter");
    StoreError noOp = s.error(StoreRequest.newBuilder(), Code.INVALID_ARGUMENT);
    assertThat(noOp.getMessage())
        .isEqualTo("op is not set in request 5; set one of the Store operations");
    assertThat(noOp.getDetails(0).unpack(BadRequest.class).getFieldViolations(0).getField()).isEqualTo("op");
    StoreError tooLong = s.error(StoreRequest.newBuilder().setWait(
        WaitRequest.newBuilder().addKeys("a").setTimeoutMillis(3_600_001)), Code.INVALID_ARGUMENT);
    assertThat(tooLong.getMessage()).isEqualTo("timeout_millis is 3600001; it must be at most 3600000 (1 h)");
    StoreError timedOut = s.error(StoreRequest.newBuilder().setGet(
        GetRequest.newBuilder().setKey("never").setWait(true).setTimeoutMillis(50)), Code.DEADLINE_EXCEEDED);
    assertThat(timedOut.getMessage()).isEqualTo("store keys [never] did not all exist within 50 ms");
    awaitWaiters(0);
    for (int i = 0; i < 4; i++) {
      s.call(set("big" + i, "x".repeat(900)));
    }
    StoreError quota = s.error(set("big9", "x".repeat(1000)), Code.RESOURCE_EXHAUSTED);
    assertThat(quota.getDetails(0).unpack(ErrorInfo.class).getReason()).isEqualTo("StoreQuotaExceeded");
    // Still open after seven failed operations.
    assertThat(s.call(waitingGet("t")).getGet().getValue()).isEqualTo(bs("text"));
    assertThat(s.end).isNotDone();
    assertThat(rdzv.meters.get("elasticmoe.rendezvous.calls").tags("method", "Session/Add", "code", "FAILED_PRECONDITION")
        .timer().count()).isEqualTo(1);
  }

  @Test
  void sessionsAreAuthenticatedWhenTheyOpen() throws Exception {
    Session none = Session.open(rdzv.channel(), null, TEAM_A);
    none.send(set("k", "v"));
    Status unauthenticated = none.endStatus();
    assertThat(unauthenticated.getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(unauthenticated.getDescription()).isEqualTo("authorization metadata is missing");
    Session unknown = Session.open(rdzv.channel(), "not-a-token", TEAM_A);
    unknown.send(set("k", "v"));
    assertThat(unknown.endStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    Session otherTeam = Session.open(rdzv.channel(), TOKEN_B, TEAM_A);
    otherTeam.send(set("k", "v"));
    Status denied = otherTeam.endStatus();
    assertThat(denied.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(denied.getDescription()).isEqualTo("the credential does not belong to deployment team-a/llm");
    assertThat(rdzv.core.numKeys(TEAM_A.toString())).isZero();
    // Team B's session writes its own namespace only.
    Session b = Session.open(rdzv.channel(), TOKEN_B, TEAM_B);
    b.call(set("k", "b"));
    assertThat(rdzv.core.tryGet(TEAM_A.toString(), "k")).isEmpty();
  }

  @Test
  void aBlockingGetHoldsTheSessionUntilAUnarySetWakesIt() throws Exception {
    Session s = sessionA();
    long get = s.send(waitingGet("NIXL_EP/1"));
    long count = s.send(StoreRequest.newBuilder().setNumKeys(NumKeysRequest.getDefaultInstance()));
    awaitWaiters(1);
    // The numKeys behind the get is not answered while the get waits.
    assertThat(s.responses.poll(200, TimeUnit.MILLISECONDS)).isNull();
    unaryA.set(SetRequest.newBuilder().setKey("NIXL_EP/1").setValue(bs("meta")).build());
    StoreResponse first = s.next();
    assertThat(first.getId()).isEqualTo(get);
    assertThat(first.getGet().getValue()).isEqualTo(bs("meta"));
    StoreResponse second = s.next();
    assertThat(second.getId()).isEqualTo(count);
    assertThat(second.getNumKeys().getNumKeys()).isEqualTo(1);
    awaitWaiters(0);
  }

  @Test
  void aHalfClosedSessionEndsOnceItsBlockedOperationIsAnswered() throws Exception {
    Session s = sessionA();
    s.send(waitingGet("late"));
    s.requests.onCompleted();
    awaitWaiters(1);
    assertThat(s.end).isNotDone();
    unaryA.set(SetRequest.newBuilder().setKey("late").setValue(bs("x")).build());
    assertThat(s.next().getGet().getValue()).isEqualTo(bs("x"));
    assertThat(s.endStatus().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void aHalfCloseRacingTheWakeUpNeverLosesTheAnswer() throws Exception {
    // The wake-up answers on the setter's thread while the half-close arrives on the transport's.
    for (int i = 0; i < 200; i++) {
      Session s = sessionA();
      s.send(waitingGet("race/" + i));
      int key = i;
      Thread setter = Thread.ofPlatform().start(
          () -> unaryA.set(SetRequest.newBuilder().setKey("race/" + key).setValue(bs("x")).build()));
      s.requests.onCompleted();
      setter.join();
      assertThat(s.next().getGet().getValue()).isEqualTo(bs("x"));
      assertThat(s.endStatus().getCode()).isEqualTo(Status.Code.OK);
    }
  }

  @Test
  void cancelledSessionsLeaveNoWaiters() throws Exception {
    List<Session> sessions = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      Session s = sessionA();
      s.send(StoreRequest.newBuilder().setMultiGet(MultiGetRequest.newBuilder().addKeys("k" + i).addKeys("shared")));
      // Queued behind the blocked multi_get; must not run after the cancel either.
      s.send(set("after-cancel-" + i, "x"));
      sessions.add(s);
    }
    awaitWaiters(10);
    sessions.forEach(s -> s.requests.cancel("test cancels", null));
    awaitWaiters(0);
    for (Session s : sessions) {
      assertThat(s.endStatus().getCode()).isEqualTo(Status.Code.CANCELLED);
    }
    unaryA.set(SetRequest.newBuilder().setKey("shared").setValue(bs("s")).build());
    assertThat(rdzv.core.numKeys(TEAM_A.toString())).isEqualTo(1);
  }

  @Test
  void aSessionDeadlineEndsTheCallAndLeavesNoWaiter() throws Exception {
    Session s = new Session();
    authed(StoreGrpc.newStub(rdzv.channel()), TOKEN_A, TEAM_A).withDeadlineAfter(300, TimeUnit.MILLISECONDS).session(s);
    s.send(waitingGet("never"));
    assertThat(s.endStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    awaitWaiters(0);
  }

  @Test
  void manyConcurrentSessionsOverTcpShareOneStore() throws Exception {
    // Default limits: 32 sessions need more keys and waiters than the small ones of the other tests.
    rdzv.close();
    rdzv = new InProcessRendezvous();
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.spec(TOKEN_A, 1, 0));
    int port = rdzv.serveOnLoopback();
    int sessions = 32;
    int pairs = 200;
    ManagedChannel tcp = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    ExecutorService threads = Executors.newFixedThreadPool(sessions);
    try {
      List<Future<Void>> done = new ArrayList<>();
      for (int c = 0; c < sessions; c++) {
        int client = c;
        done.add(threads.submit(() -> {
          Session s = Session.open(tcp, TOKEN_A, TEAM_A);
          for (int i = 0; i < pairs; i++) {
            s.call(set("c" + client + "/" + i, client + ":" + i));
            assertThat(s.call(waitingGet("c" + client + "/" + i)).getGet().getValue()).isEqualTo(bs(client + ":" + i));
          }
          // A ring: each session then blocks on its neighbour's key, woken by the neighbour's session.
          s.call(set("ring/" + client, "r" + client));
          assertThat(s.call(waitingGet("ring/" + (client + 1) % sessions)).getGet().getValue())
              .isEqualTo(bs("r" + (client + 1) % sessions));
          s.requests.onCompleted();
          assertThat(s.endStatus().getCode()).isEqualTo(Status.Code.OK);
          return null;
        }));
      }
      for (Future<Void> f : done) {
        f.get(60, TimeUnit.SECONDS);
      }
    } finally {
      threads.shutdownNow();
      tcp.shutdownNow();
    }
    assertThat(rdzv.core.numKeys(TEAM_A.toString())).isEqualTo(sessions * (pairs + 1L));
    awaitWaiters(0);
  }
}
