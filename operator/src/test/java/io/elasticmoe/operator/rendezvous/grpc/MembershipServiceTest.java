package io.elasticmoe.operator.rendezvous.grpc;

import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.authed;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import io.elasticmoe.api.rendezvous.v1alpha1.Assignment;
import io.elasticmoe.api.rendezvous.v1alpha1.Directive;
import io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement;
import io.elasticmoe.api.rendezvous.v1alpha1.GetPlacementRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.HeartbeatRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.JoinRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.JoinResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.LeaveRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.LoadReport;
import io.elasticmoe.api.rendezvous.v1alpha1.MembershipGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.PlacementGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.ReportPeerFailureRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.WatchRequest;
import io.elasticmoe.operator.rendezvous.InProcessRendezvous;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent;
import io.elasticmoe.operator.rendezvous.core.PodCondition;
import io.elasticmoe.operator.rendezvous.core.RankPhase;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class MembershipServiceTest {
  private InProcessRendezvous rdzv;
  private MembershipGrpc.MembershipBlockingStub members;

  @BeforeEach
  void start() throws Exception {
    rdzv = new InProcessRendezvous();
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.spec(TOKEN_A, 2, 0, 1, 2, 3));
    members = authed(MembershipGrpc.newBlockingStub(rdzv.channel()), TOKEN_A, TEAM_A);
  }

  @AfterEach
  void stop() throws Exception {
    rdzv.close();
  }

  /** Collects one Watch stream. */
  final class Watch implements StreamObserver<Assignment> {
    final BlockingQueue<Assignment> received = new LinkedBlockingQueue<>();
    final AtomicBoolean completed = new AtomicBoolean();
    final java.util.concurrent.atomic.AtomicReference<Throwable> error = new java.util.concurrent.atomic.AtomicReference<>();

    Watch(int rank, String uid) {
      authed(MembershipGrpc.newStub(rdzv.channel()), TOKEN_A, TEAM_A)
          .watch(WatchRequest.newBuilder().setRank(rank).setPodUid(uid).build(), this);
    }

    Assignment next() throws InterruptedException {
      Assignment a = received.poll(10, TimeUnit.SECONDS);
      assertThat(a).as("an assignment within 10 s").isNotNull();
      return a;
    }

    @Override
    public void onNext(Assignment value) {
      received.add(value);
    }

    @Override
    public void onError(Throwable t) {
      error.set(t);
    }

    @Override
    public void onCompleted() {
      completed.set(true);
    }
  }

  private static String uid(int rank) {
    return "uid-" + rank;
  }

  private JoinResponse join(int rank, String uid) {
    return members.join(JoinRequest.newBuilder().setRank(rank).setPodUid(uid).setPodName("pod-" + rank)
        .setNodeName("node-" + rank).build());
  }

  private List<Watch> joinAll() throws InterruptedException {
    List<Watch> watches = new java.util.ArrayList<>();
    for (int r = 0; r < 4; r++) {
      join(r, uid(r));
      watches.add(new Watch(r, uid(r)));
    }
    for (Watch w : watches) {
      assertThat(w.next().getEpoch()).isEqualTo(1);
    }
    return watches;
  }

  private static StatusRuntimeException fails(Status.Code code, Runnable call) {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
    assertThat(e.getStatus().getCode()).isEqualTo(code);
    return e;
  }

  @Test
  void everyWatcherReceivesTheCommittedAssignmentOnceAllPlannedRanksJoined() throws Exception {
    List<Watch> watches = new java.util.ArrayList<>();
    for (int r = 0; r < 3; r++) {
      assertThat(join(r, uid(r)).getCommittedEpoch()).isZero();
      watches.add(new Watch(r, uid(r)));
    }
    assertThat(watches.get(0).received).as("nothing before a commit").isEmpty();
    JoinResponse last = join(3, uid(3));
    assertThat(last.getCommittedEpoch()).isEqualTo(1);
    assertThat(last.getInCommittedEpoch()).isTrue();
    watches.add(new Watch(3, uid(3)));
    for (int r = 0; r < 4; r++) {
      Assignment a = watches.get(r).next();
      assertThat(a).isEqualTo(Assignment.newBuilder().setEpoch(1).setRank(r).setWorldSize(4)
          .addAllActiveRanks(List.of(0, 1, 2, 3)).setMaxRanks(8).setPlacementVersion(1)
          .setDirective(Directive.RUN).build());
    }
    ExpertPlacement p = authed(PlacementGrpc.newBlockingStub(rdzv.channel()), TOKEN_A, TEAM_A)
        .getPlacement(GetPlacementRequest.getDefaultInstance());
    assertThat(p.getVersion()).isEqualTo(1);
    assertThat(p.getActiveRanksList()).containsExactly(0, 1, 2, 3);
    assertThat(p.getPhy2LogCount()).isEqualTo(16);
    assertThat(rdzv.committed.load(TEAM_A).orElseThrow().epoch()).as("persisted").isEqualTo(1);
  }

  @Test
  void aWatchFromAPodThatHasNotJoinedIsRefused() throws Exception {
    Watch w = new Watch(1, "never-joined");
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> w.error.get() != null);
    assertThat(Status.fromThrowable(w.error.get()).getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(Status.fromThrowable(w.error.get()).getDescription())
        .isEqualTo("pod never-joined does not hold rank 1; the rank has not joined");
  }

  @Test
  void aStaleEpochIsFailedPreconditionWithTheCurrentEpoch() throws Exception {
    joinAll();
    StatusRuntimeException e = fails(Status.Code.FAILED_PRECONDITION, () -> members.leave(
        LeaveRequest.newBuilder().setRank(1).setPodUid(uid(1)).setEpoch(0).setReason("test").build()));
    assertThat(e.getStatus().getDescription()).isEqualTo("epoch 0 is stale; the committed epoch is 1");
    ErrorInfo info = StatusProto.fromThrowable(e).getDetails(0).unpack(ErrorInfo.class);
    assertThat(info.getReason()).isEqualTo("StaleEpoch");
    assertThat(info.getMetadataMap()).containsEntry("currentEpoch", "1");
  }

  @Test
  void badJoinsGetTheirCodes() throws Exception {
    assertThat(fails(Status.Code.FAILED_PRECONDITION, () -> join(5, "x")).getStatus().getDescription())
        .isEqualTo("rank 5 is not planned; planned ranks are [0, 1, 2, 3]");
    assertThat(fails(Status.Code.RESOURCE_EXHAUSTED, () -> join(8, "x")).getStatus().getDescription())
        .isEqualTo("rank 8 does not fit the world: ranks are 0..7 (maxRanks 8)");
    StatusRuntimeException noUid = fails(Status.Code.INVALID_ARGUMENT, () -> join(0, ""));
    assertThat(noUid.getStatus().getDescription()).isEqualTo("pod_uid is empty; send the pod's metadata.uid");
    assertThat(StatusProto.fromThrowable(noUid).getDetails(0).unpack(BadRequest.class).getFieldViolations(0).getField())
        .isEqualTo("pod_uid");
    assertThat(fails(Status.Code.INVALID_ARGUMENT, () -> join(-1, "x")).getStatus().getDescription())
        .isEqualTo("rank is -1; ranks are not negative");
    assertThat(fails(Status.Code.INVALID_ARGUMENT, () -> join(0, "u".repeat(300))).getStatus().getDescription())
        .isEqualTo("pod_uid is 300 bytes; the limit is 256");
    join(0, "uid-0");
    assertThat(fails(Status.Code.FAILED_PRECONDITION, () -> join(1, "uid-0")).getStatus().getDescription())
        .isEqualTo("pod uid-0 holds rank 0; it cannot join as rank 1");
    assertThat(fails(Status.Code.FAILED_PRECONDITION, () -> members.heartbeat(
        HeartbeatRequest.newBuilder().setRank(2).setPodUid("uid-2").build())).getStatus().getDescription())
        .isEqualTo("pod uid-2 does not hold rank 2; the rank has not joined");
  }

  @Test
  void workersReattachToTheSameEpochAfterAnOperatorRestart() throws Exception {
    joinAll();
    rdzv.restartOperator();
    // The reconciler of the new operator registers the deployment again; the registry resumes.
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.spec(TOKEN_A, 2, 0, 1, 2, 3));
    members = authed(MembershipGrpc.newBlockingStub(rdzv.channel()), TOKEN_A, TEAM_A);
    for (int r = 0; r < 4; r++) {
      JoinResponse again = join(r, uid(r));
      Watch w = new Watch(r, uid(r));
      assertThat(again.getCommittedEpoch()).isEqualTo(1);
      assertThat(again.getInCommittedEpoch()).isTrue();
      assertThat(w.next().getEpoch()).isEqualTo(1);
    }
    assertThat(rdzv.registry.committed(TEAM_A).orElseThrow().epoch()).isEqualTo(1);
  }

  @Test
  void silentRankIsSuspectedThenLostOnlyOnceItsPodIsNotReady() throws Exception {
    List<Watch> watches = joinAll();
    rdzv.clock.advance(Duration.ofSeconds(5));
    for (int r = 0; r < 3; r++) {
      members.heartbeat(HeartbeatRequest.newBuilder().setRank(r).setPodUid(uid(r)).setEpoch(1).build());
    }
    rdzv.clock.advance(Duration.ofSeconds(2));
    rdzv.registry.membership(TEAM_A).apply(new MembershipEvent.Tick());
    var state = rdzv.registry.membershipState(TEAM_A).orElseThrow();
    assertThat(state.ranks().get(3).phase()).isEqualTo(RankPhase.SUSPECTED);
    assertThat(state.epoch()).as("suspicion alone does not change the world").isEqualTo(1);
    rdzv.registry.onPodState(TEAM_A, 3, uid(3), PodCondition.NOT_READY);
    for (int r = 0; r < 3; r++) {
      Assignment a = watches.get(r).next();
      assertThat(a.getEpoch()).isEqualTo(2);
      assertThat(a.getActiveRanksList()).containsExactly(0, 1, 2);
    }
    assertThat(watches.get(3).next().getDirective()).isEqualTo(Directive.REJOIN);
  }

  @Test
  void aPeerReportFollowedByPodGoneStartsAnEpochWithoutThePeer() throws Exception {
    List<Watch> watches = joinAll();
    members.reportPeerFailure(ReportPeerFailureRequest.newBuilder().setRank(0).setPodUid(uid(0)).setEpoch(1)
        .setFailedRank(2).setWaitedMillis(1000).build());
    rdzv.registry.onPodState(TEAM_A, 2, uid(2), PodCondition.GONE);
    assertThat(watches.get(0).next().getActiveRanksList()).containsExactly(0, 1, 3);
    // The replacement pod keeps the sticky rank and completes the world again.
    join(2, "uid-2b");
    Watch replacement = new Watch(2, "uid-2b");
    Assignment back = replacement.next();
    assertThat(back.getEpoch()).isEqualTo(3);
    assertThat(back.getRank()).isEqualTo(2);
    assertThat(back.getActiveRanksList()).containsExactly(0, 1, 2, 3);
  }

  @Test
  void aDrainedRankLeavesWithoutDisturbingTheOthers() throws Exception {
    List<Watch> watches = joinAll();
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.spec(TOKEN_A, 2, 0, 1, 2));
    assertThat(watches.get(3).next().getDirective()).isEqualTo(Directive.DRAIN);
    members.leave(LeaveRequest.newBuilder().setRank(3).setPodUid(uid(3)).setEpoch(1).setReason("scale down").build());
    for (int r = 0; r < 3; r++) {
      Assignment a = watches.get(r).next();
      assertThat(a.getEpoch()).isEqualTo(2);
      assertThat(a.getRank()).isEqualTo(r);
      assertThat(a.getDirective()).isEqualTo(Directive.RUN);
      assertThat(a.getActiveRanksList()).containsExactly(0, 1, 2);
    }
    assertThat(watches.get(3).next().getDirective()).isEqualTo(Directive.EXIT);
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).untilTrue(watches.get(3).completed);
  }

  @Test
  void loadReportsAreFencedAndValidated() throws Exception {
    joinAll();
    var placement = authed(PlacementGrpc.newBlockingStub(rdzv.channel()), TOKEN_A, TEAM_A);
    LoadReport.Builder ok = LoadReport.newBuilder().setRank(1).setPodUid(uid(1)).setEpoch(1).setPlacementVersion(1)
        .addAllTokensPerSlot(List.of(5L, 7L));
    assertThat(placement.reportLoad(ok.build()).getPlacementVersion()).isEqualTo(1);
    assertThat(fails(Status.Code.FAILED_PRECONDITION, () -> placement.reportLoad(ok.clone().setEpoch(3).build()))
        .getStatus().getDescription()).isEqualTo("epoch 3 is stale; the committed epoch is 1");
    assertThat(fails(Status.Code.INVALID_ARGUMENT,
        () -> placement.reportLoad(ok.clone().addTokensPerSlot(1).build())).getStatus().getDescription())
        .isEqualTo("tokens_per_slot has 3 entries; it must have layers × slots_per_rank = 1 × 2 = 2");
    assertThat(fails(Status.Code.INVALID_ARGUMENT,
        () -> placement.reportLoad(ok.clone().setTokensPerSlot(0, -4).build())).getStatus().getDescription())
        .isEqualTo("tokens_per_slot[0] is -4; token counts cannot be negative");
  }
}
