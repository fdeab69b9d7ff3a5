package io.elasticmoe.operator.rendezvous.grpc;

import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_B;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_B;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.authed;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.elasticmoe.api.rendezvous.v1alpha1.JoinRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.MembershipGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.NumKeysRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.operator.rendezvous.InProcessRendezvous;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class DeploymentAuthInterceptorTest {
  private InProcessRendezvous rdzv;

  @BeforeEach
  void start() throws Exception {
    rdzv = new InProcessRendezvous();
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.spec(TOKEN_A, 1, 0));
    rdzv.registry.upsert(TEAM_B, InProcessRendezvous.spec(TOKEN_B, 1, 0));
  }

  @AfterEach
  void stop() throws Exception {
    rdzv.close();
  }

  private StatusRuntimeException numKeysFails(StoreGrpc.StoreBlockingStub stub, Status.Code code) {
    StatusRuntimeException e =
        assertThrows(StatusRuntimeException.class, () -> stub.numKeys(NumKeysRequest.getDefaultInstance()));
    assertThat(e.getStatus().getCode()).isEqualTo(code);
    return e;
  }

  private StoreGrpc.StoreBlockingStub withHeaders(String authorization, String deployment) {
    Metadata h = new Metadata();
    if (authorization != null) {
      h.put(DeploymentAuthInterceptor.AUTHORIZATION, authorization);
    }
    if (deployment != null) {
      h.put(DeploymentAuthInterceptor.DEPLOYMENT_HEADER, deployment);
    }
    return StoreGrpc.newBlockingStub(rdzv.channel()).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h));
  }

  @Test
  void aCallWithoutCredentialIsUnauthenticated() {
    assertThat(numKeysFails(withHeaders(null, "team-a/llm"), Status.Code.UNAUTHENTICATED).getStatus().getDescription())
        .isEqualTo("authorization metadata is missing");
  }

  @Test
  void anotherSchemeIsUnauthenticated() {
    assertThat(numKeysFails(withHeaders("Basic abc", "team-a/llm"), Status.Code.UNAUTHENTICATED)
        .getStatus().getDescription())
        .isEqualTo("authorization scheme Basic is not supported; use Bearer <token>");
  }

  @Test
  void anEmptyTokenIsUnauthenticated() {
    assertThat(numKeysFails(withHeaders("Bearer ", "team-a/llm"), Status.Code.UNAUTHENTICATED)
        .getStatus().getDescription()).isEqualTo("the bearer token is empty");
  }

  @Test
  void anUnknownTokenIsUnauthenticated() {
    assertThat(numKeysFails(withHeaders("Bearer guessed", "team-a/llm"), Status.Code.UNAUTHENTICATED)
        .getStatus().getDescription()).isEqualTo("the credential is not known to the rendezvous");
  }

  @Test
  void anUnknownTokenRightAfterAnOperatorRestartIsUnavailable() throws Exception {
    rdzv.restartOperator();
    assertThat(numKeysFails(withHeaders("Bearer " + TOKEN_A, "team-a/llm"), Status.Code.UNAVAILABLE)
        .getStatus().getDescription())
        .isEqualTo("the rendezvous has just started and is still registering deployments; retry");
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.spec(TOKEN_A, 1, 0));
    assertThat(withHeaders("Bearer " + TOKEN_A, "team-a/llm").numKeys(NumKeysRequest.getDefaultInstance())
        .getNumKeys()).isZero();
  }

  @Test
  void aMissingOrGarbageDeploymentIsUnauthenticated() {
    assertThat(numKeysFails(withHeaders("Bearer " + TOKEN_A, null), Status.Code.UNAUTHENTICATED)
        .getStatus().getDescription())
        .isEqualTo("x-elasticmoe-deployment metadata is missing; send <namespace>/<name>");
    assertThat(numKeysFails(withHeaders("Bearer " + TOKEN_A, "no-slash"), Status.Code.UNAUTHENTICATED)
        .getStatus().getDescription())
        .isEqualTo("x-elasticmoe-deployment deployment 'no-slash' must be <namespace>/<name>, both non-empty");
  }

  @Test
  void anotherDeploymentsCredentialIsPermissionDenied() {
    StatusRuntimeException e = numKeysFails(authed(StoreGrpc.newBlockingStub(rdzv.channel()), TOKEN_B, TEAM_A),
        Status.Code.PERMISSION_DENIED);
    assertThat(e.getStatus().getDescription()).isEqualTo("the credential does not belong to deployment team-a/llm");
    StatusRuntimeException join = assertThrows(StatusRuntimeException.class,
        () -> authed(MembershipGrpc.newBlockingStub(rdzv.channel()), TOKEN_B, TEAM_A)
            .join(JoinRequest.newBuilder().setRank(0).setPodUid("u").build()));
    assertThat(join.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
  }

  @Test
  void aRemovedDeploymentsCredentialStopsWorking() {
    var a = authed(StoreGrpc.newBlockingStub(rdzv.channel()), TOKEN_A, TEAM_A);
    assertThat(a.numKeys(NumKeysRequest.getDefaultInstance()).getNumKeys()).isZero();
    rdzv.registry.remove(TEAM_A);
    numKeysFails(a, Status.Code.UNAUTHENTICATED);
  }
}
