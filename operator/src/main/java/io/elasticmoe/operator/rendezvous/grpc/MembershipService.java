package io.elasticmoe.operator.rendezvous.grpc;

import io.elasticmoe.api.rendezvous.v1alpha1.Assignment;
import io.elasticmoe.api.rendezvous.v1alpha1.Directive;
import io.elasticmoe.api.rendezvous.v1alpha1.HeartbeatRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.HeartbeatResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.JoinRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.JoinResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.LeaveRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.LeaveResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.MembershipGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.ReportPeerFailureRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.ReportPeerFailureResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.WatchRequest;
import io.elasticmoe.operator.rendezvous.MembershipMachine;
import io.elasticmoe.operator.rendezvous.RendezvousRegistry;
import io.elasticmoe.operator.rendezvous.core.CommittedMember;
import io.elasticmoe.operator.rendezvous.core.MembershipEvent;
import io.elasticmoe.operator.rendezvous.core.MembershipState;
import io.elasticmoe.operator.rendezvous.core.RankAssignment;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.quarkus.grpc.RegisterInterceptor;
import jakarta.inject.Inject;
import io.smallrye.common.annotation.Blocking;
import java.util.concurrent.atomic.AtomicReference;
import org.jboss.logging.Logger;

/**
 * The Membership gRPC service: validates request fields, turns calls into {@link MembershipEvent}s for
 * the caller's {@link MembershipMachine}, and streams assignments. Decisions live in the rules.
 */
@GrpcService
@RegisterInterceptor(DeploymentAuthInterceptor.class)
@Blocking
public class MembershipService extends MembershipGrpc.MembershipImplBase {
  private static final Logger LOG = Logger.getLogger(MembershipService.class);
  private static final int MAX_CAPABILITIES = 32;
  private static final int MAX_TEXT_BYTES = 256;
  private static final int MAX_REASON_BYTES = 1024;

  private final RendezvousRegistry registry;
  private final RendezvousCalls calls;
  private final RendezvousMetrics metrics;

  @Inject
  public MembershipService(RendezvousRegistry registry, RendezvousMetrics metrics) {
    this.registry = registry;
    this.metrics = metrics;
    this.calls = new RendezvousCalls("Membership", metrics);
  }

  private MembershipMachine machine() {
    return registry.membership(DeploymentAuthInterceptor.caller());
  }

  @Override
  public void join(JoinRequest request, StreamObserver<JoinResponse> out) {
    calls.unary("Join", out, () -> {
      checkRank("rank", request.getRank());
      checkPodUid(request.getPodUid());
      checkText("address", request.getAddress(), MAX_TEXT_BYTES);
      checkText("pod_name", request.getPodName(), MAX_TEXT_BYTES);
      checkText("node_name", request.getNodeName(), MAX_TEXT_BYTES);
      if (request.getCapabilitiesCount() > MAX_CAPABILITIES) {
        throw new InvalidRequestException(
            "capabilities", "has " + request.getCapabilitiesCount() + " entries; the limit is " + MAX_CAPABILITIES);
      }
      request.getCapabilitiesMap().forEach((k, v) -> {
        checkText("capabilities key", k, MAX_TEXT_BYTES);
        checkText("capabilities[" + k + "]", v, MAX_TEXT_BYTES);
      });
      MembershipState state =
          machine().apply(new MembershipEvent.Join(
              request.getRank(), request.getPodUid(), request.getPodName(), request.getNodeName()));
      CommittedMember member = state.committed().members().get(request.getRank());
      return JoinResponse.newBuilder()
          .setCommittedEpoch(state.epoch())
          .setInCommittedEpoch(member != null && member.podUid().equals(request.getPodUid()))
          .setHeartbeatIntervalMillis(registry.heartbeatInterval(DeploymentAuthInterceptor.caller()).toMillis())
          .build();
    });
  }

  @Override
  public void watch(WatchRequest request, StreamObserver<Assignment> out) {
    long start = System.nanoTime();
    try {
      checkRank("rank", request.getRank());
      checkPodUid(request.getPodUid());
      ServerCallStreamObserver<Assignment> server = (ServerCallStreamObserver<Assignment>) out;
      AtomicReference<Runnable> unwatch = new AtomicReference<>(() -> {});
      server.setOnCancelHandler(() -> unwatch.get().run());
      unwatch.set(
          machine().watch(request.getRank(), request.getPodUid(), new MembershipMachine.AssignmentSink() {
            @Override
            public void send(RankAssignment a) {
              if (!server.isCancelled()) {
                server.onNext(toProto(a));
              }
            }

            @Override
            public void end() {
              if (!server.isCancelled()) {
                server.onCompleted();
              }
            }
          }));
      if (server.isCancelled()) {
        unwatch.get().run();
      }
    } catch (RuntimeException e) {
      var status = StatusMapper.toStatus(e);
      metrics.record("Membership", "Watch", status.getStatus().getCode(), System.nanoTime() - start);
      out.onError(status);
      return;
    }
    metrics.record("Membership", "Watch", Status.Code.OK, System.nanoTime() - start);
    LOG.debugf("%s rank=%d watching", DeploymentAuthInterceptor.caller(), request.getRank());
  }

  @Override
  public void heartbeat(HeartbeatRequest request, StreamObserver<HeartbeatResponse> out) {
    calls.unary("Heartbeat", out, () -> {
      checkRank("rank", request.getRank());
      checkPodUid(request.getPodUid());
      MembershipState state = machine().apply(new MembershipEvent.Heartbeat(request.getRank(), request.getPodUid()));
      return HeartbeatResponse.newBuilder().setCommittedEpoch(state.epoch()).build();
    });
  }

  @Override
  public void leave(LeaveRequest request, StreamObserver<LeaveResponse> out) {
    calls.unary("Leave", out, () -> {
      checkRank("rank", request.getRank());
      checkPodUid(request.getPodUid());
      checkText("reason", request.getReason(), MAX_REASON_BYTES);
      machine().apply(new MembershipEvent.Leave(request.getRank(), request.getPodUid(), request.getEpoch()));
      LOG.infof("%s epoch=%d rank=%d leaves: %s", DeploymentAuthInterceptor.caller(), request.getEpoch(),
          request.getRank(), request.getReason());
      return LeaveResponse.getDefaultInstance();
    });
  }

  @Override
  public void reportPeerFailure(ReportPeerFailureRequest request, StreamObserver<ReportPeerFailureResponse> out) {
    calls.unary("ReportPeerFailure", out, () -> {
      checkRank("rank", request.getRank());
      checkRank("failed_rank", request.getFailedRank());
      checkPodUid(request.getPodUid());
      machine().apply(new MembershipEvent.PeerFailure(
          request.getRank(), request.getPodUid(), request.getEpoch(), request.getFailedRank()));
      LOG.infof("%s epoch=%d rank=%d reports rank %d silent for %d ms", DeploymentAuthInterceptor.caller(),
          request.getEpoch(), request.getRank(), request.getFailedRank(), request.getWaitedMillis());
      return ReportPeerFailureResponse.getDefaultInstance();
    });
  }

  static Assignment toProto(RankAssignment a) {
    return Assignment.newBuilder()
        .setEpoch(a.epoch())
        .setRank(a.rank())
        .setWorldSize(a.worldSize())
        .addAllActiveRanks(a.activeRanks())
        .setMaxRanks(a.maxRanks())
        .setPlacementVersion(a.placementVersion())
        .setDirective(switch (a.directive()) {
          case RUN -> Directive.RUN;
          case DRAIN -> Directive.DRAIN;
          case REJOIN -> Directive.REJOIN;
          case EXIT -> Directive.EXIT;
        })
        .build();
  }

  private static void checkRank(String field, int rank) {
    if (rank < 0) {
      throw new InvalidRequestException(field, "is " + rank + "; ranks are not negative");
    }
  }

  private static void checkPodUid(String podUid) {
    if (podUid.isEmpty()) {
      throw new InvalidRequestException("pod_uid", "is empty; send the pod's metadata.uid");
    }
    checkText("pod_uid", podUid, MAX_TEXT_BYTES);
  }

  private static void checkText(String field, String value, int maxBytes) {
    int bytes = value.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    if (bytes > maxBytes) {
      throw new InvalidRequestException(field, "is " + bytes + " bytes; the limit is " + maxBytes);
    }
  }
}
