package io.elasticmoe.operator.rendezvous;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import io.elasticmoe.api.rendezvous.v1alpha1.Assignment;
import io.elasticmoe.api.rendezvous.v1alpha1.GetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.JoinRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.MembershipGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.SetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.WatchRequest;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.elasticmoe.operator.rendezvous.core.CommittedState;
import io.elasticmoe.operator.rendezvous.persist.CommittedStateStore;
import io.elasticmoe.operator.rendezvous.persist.InMemoryCommittedStateStore;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.enterprise.inject.Alternative;
import jakarta.inject.Singleton;
import java.util.Optional;
import java.util.Set;
import jakarta.inject.Inject;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/**
 * The services as the operator serves them: CDI producers, the interceptor registered on each service,
 * Membership on worker threads (@Blocking) with the caller's deployment still in the gRPC Context.
 */
@QuarkusTest
@TestProfile(RendezvousWiringTest.WithoutCluster.class)
class RendezvousWiringTest {
  private static final DeploymentKey KEY = new DeploymentKey("wired", "llm");

  /** No API server here: the committed state goes to memory instead of the CR status. */
  public static final class WithoutCluster implements QuarkusTestProfile {
    @Override
    public Set<Class<?>> getEnabledAlternatives() {
      return Set.of(MemoryStore.class);
    }
  }

  @Alternative
  @Singleton
  public static class MemoryStore implements CommittedStateStore {
    private final InMemoryCommittedStateStore memory = new InMemoryCommittedStateStore();

    @Override
    public void save(DeploymentKey key, CommittedState state) {
      memory.save(key, state);
    }

    @Override
    public Optional<CommittedState> load(DeploymentKey key) {
      return memory.load(key);
    }
  }

  @Inject RendezvousRegistry registry;

  @ConfigProperty(name = "quarkus.grpc.server.test-port", defaultValue = "9001")
  int port;

  @Test
  void theOperatorServesAuthenticatedMembershipAndStore() throws Exception {
    registry.upsert(KEY, InProcessRendezvous.spec("wired-token", 1, 0));
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    try {
      var store = InProcessRendezvous.authed(StoreGrpc.newBlockingStub(channel), "wired-token", KEY);
      store.set(SetRequest.newBuilder().setKey("k").setValue(ByteString.copyFromUtf8("v")).build());
      assertThat(store.get(GetRequest.newBuilder().setKey("k").setWait(true).build()).getValue().toStringUtf8())
          .isEqualTo("v");
      var members = InProcessRendezvous.authed(MembershipGrpc.newBlockingStub(channel), "wired-token", KEY);
      assertThat(members.join(JoinRequest.newBuilder().setRank(0).setPodUid("u0").build()).getCommittedEpoch())
          .isEqualTo(1);
      Iterator<Assignment> watch = members.withDeadlineAfter(10, TimeUnit.SECONDS)
          .watch(WatchRequest.newBuilder().setRank(0).setPodUid("u0").build());
      assertThat(watch.next().getEpoch()).isEqualTo(1);
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
          () -> InProcessRendezvous.authed(StoreGrpc.newBlockingStub(channel), "wrong", KEY)
              .get(GetRequest.newBuilder().setKey("k").build()));
      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
      // Store.Session on Quarkus's gRPC server: a blocked get answered once a unary set arrives.
      java.util.concurrent.BlockingQueue<io.elasticmoe.api.rendezvous.v1alpha1.StoreResponse> answers =
          new java.util.concurrent.LinkedBlockingQueue<>();
      var session = InProcessRendezvous.authed(StoreGrpc.newStub(channel), "wired-token", KEY).session(
          new io.grpc.stub.StreamObserver<>() {
            @Override
            public void onNext(io.elasticmoe.api.rendezvous.v1alpha1.StoreResponse r) {
              answers.add(r);
            }

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onCompleted() {}
          });
      session.onNext(io.elasticmoe.api.rendezvous.v1alpha1.StoreRequest.newBuilder().setId(1)
          .setGet(GetRequest.newBuilder().setKey("session-key").setWait(true)).build());
      store.set(SetRequest.newBuilder().setKey("session-key").setValue(ByteString.copyFromUtf8("s")).build());
      var answer = answers.poll(10, TimeUnit.SECONDS);
      assertThat(answer).isNotNull();
      assertThat(answer.getId()).isEqualTo(1);
      assertThat(answer.getGet().getValue().toStringUtf8()).isEqualTo("s");
      session.onCompleted();
    } finally {
      channel.shutdownNow();
      registry.remove(KEY);
    }
  }
}
