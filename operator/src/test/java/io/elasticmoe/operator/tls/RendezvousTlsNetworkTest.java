package io.elasticmoe.operator.tls;

import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TEAM_A;
import static io.elasticmoe.operator.rendezvous.InProcessRendezvous.TOKEN_A;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import io.elasticmoe.api.rendezvous.v1alpha1.Directive;
import io.elasticmoe.api.rendezvous.v1alpha1.GetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.SetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.operator.rendezvous.InProcessRendezvous;
import io.elasticmoe.operator.rendezvous.grpc.DeploymentAuthInterceptor;
import io.elasticmoe.operator.rendezvous.grpc.MembershipService;
import io.elasticmoe.operator.rendezvous.grpc.StoreService;
import io.elasticmoe.worker.rendezvous.RendezvousClient;
import io.elasticmoe.worker.rendezvous.RendezvousIdentity;
import io.elasticmoe.worker.rendezvous.RendezvousTrust;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.ByteArrayInputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The rendezvous services over real TLS on loopback, with a certificate from {@link RendezvousCertificates}
 * for the operator's Service names: a client trusting that CA gets through and is still authenticated
 * by its credential; a client trusting another CA, checking another name, or speaking plaintext is
 * refused at the transport (UNAVAILABLE) before any credential is looked at.
 */
class RendezvousTlsNetworkTest {
  private static final RendezvousServiceNames NAMES = new RendezvousServiceNames("elasticmoe-operator", "emoe");
  private static final Instant NOW = Instant.now();
  private static final RendezvousTlsMaterial MATERIAL =
      RendezvousCertificates.issue("test CA", NAMES.dnsNames(), NOW, new SecureRandom());
  private static final RendezvousTlsMaterial OTHER_CA =
      RendezvousCertificates.issue("another CA", NAMES.dnsNames(), NOW, new SecureRandom());

  private InProcessRendezvous rdzv;
  private Server server;
  private String target;
  private final List<ManagedChannel> channels = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    rdzv = new InProcessRendezvous();
    rdzv.registry.upsert(TEAM_A, InProcessRendezvous.worldOf(TOKEN_A, 1));
    DeploymentAuthInterceptor auth = new DeploymentAuthInterceptor(rdzv.registry);
    // The same transport security call the operator's RendezvousTlsCustomizer makes.
    server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
        .useTransportSecurity(pem(MATERIAL.serverCertificatePem()), pem(MATERIAL.serverKeyPem()))
        .addService(ServerInterceptors.intercept(new StoreService(rdzv.core, rdzv.metrics), auth))
        .addService(ServerInterceptors.intercept(new MembershipService(rdzv.registry, rdzv.metrics), auth))
        .build()
        .start();
    target = "127.0.0.1:" + server.getPort();
  }

  @AfterEach
  void stop() throws Exception {
    channels.forEach(ManagedChannel::shutdownNow);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    rdzv.close();
  }

  private static ByteArrayInputStream pem(String text) {
    return new ByteArrayInputStream(text.getBytes(StandardCharsets.US_ASCII));
  }

  private StoreGrpc.StoreBlockingStub store(ChannelCredentials credentials, String serverName, String token) {
    var builder = Grpc.newChannelBuilder(target, credentials);
    if (serverName != null) {
      builder.overrideAuthority(serverName);
    }
    ManagedChannel channel = builder.build();
    channels.add(channel);
    return InProcessRendezvous.authed(StoreGrpc.newBlockingStub(channel), token, TEAM_A)
        .withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  private static ChannelCredentials trusting(RendezvousTlsMaterial material) throws Exception {
    return TlsChannelCredentials.newBuilder().trustManager(pem(material.caCertificatePem())).build();
  }

  private static SetRequest set(String key) {
    return SetRequest.newBuilder().setKey(key).setValue(ByteString.copyFromUtf8("v")).build();
  }

  @Test
  void aWorkerTrustingTheCaJoinsAndUsesTheStore() throws Exception {
    RendezvousIdentity id = new RendezvousIdentity(target, "team-a", "llm", 0, "uid-0", "pod-0", "node", TOKEN_A);
    try (RendezvousClient client = RendezvousClient.connect(id,
        Optional.of(new RendezvousTrust(MATERIAL.caCertificatePem(), Optional.of(NAMES.serverName()))))) {
      client.start();

      assertThat(client.awaitAssignment(a -> a.getDirective() == Directive.RUN, Duration.ofSeconds(20)).getEpoch())
          .isEqualTo(1);
      client.store().set("NIXL_EP/0", new byte[] {7});
      assertThat(client.store().get("NIXL_EP/0", Duration.ofSeconds(5))).containsExactly(7);
    }
  }

  @Test
  void tlsDoesNotReplaceTheCredential() throws Exception {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> store(trusting(MATERIAL), NAMES.serverName(), "not-the-token").set(set("k")));

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    store(trusting(MATERIAL), NAMES.serverName(), TOKEN_A).set(set("k"));
    assertThat(store(trusting(MATERIAL), NAMES.serverName(), TOKEN_A)
        .get(GetRequest.newBuilder().setKey("k").build()).getValue().toStringUtf8()).isEqualTo("v");
  }

  @Test
  void aClientTrustingAnotherCaIsRefused() throws Exception {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> store(trusting(OTHER_CA), NAMES.serverName(), TOKEN_A).set(set("k")));

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(rdzv.core.numKeys(TEAM_A.toString())).isZero();
  }

  @Test
  void aClientCheckingANameNotInTheCertificateIsRefused() throws Exception {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> store(trusting(MATERIAL), "elasticmoe-operator.elsewhere.svc", TOKEN_A).set(set("k")));

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
  }

  @Test
  void aPlaintextClientIsRefused() {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> store(InsecureChannelCredentials.create(), null, TOKEN_A).set(set("k")));

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(rdzv.core.numKeys(TEAM_A.toString())).isZero();
  }
}
