package io.elasticmoe.operator.rendezvous;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import io.elasticmoe.api.rendezvous.v1alpha1.GetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.SetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.tls.RendezvousCertificates;
import io.elasticmoe.operator.tls.RendezvousServiceNames;
import io.elasticmoe.operator.tls.RendezvousTls;
import io.elasticmoe.operator.tls.RendezvousTlsCustomizer;
import io.elasticmoe.operator.tls.RendezvousTlsMaterial;
import io.elasticmoe.operator.tls.RendezvousTlsSecretManager;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.enterprise.inject.Alternative;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/**
 * The operator as the chart runs it, TLS on: quarkus-grpc builds its server with the certificate that
 * {@link RendezvousTlsCustomizer} hands over, so only TLS clients trusting the rendezvous CA get in.
 */
@QuarkusTest
@TestProfile(RendezvousTlsWiringTest.WithTls.class)
class RendezvousTlsWiringTest {
  private static final DeploymentKey KEY = new DeploymentKey("secured", "llm");
  static final RendezvousServiceNames NAMES = new RendezvousServiceNames("elasticmoe-operator", "elasticmoe-system");
  static final RendezvousTlsMaterial MATERIAL =
      RendezvousCertificates.issue("test CA", NAMES.dnsNames(), Instant.now(), new SecureRandom());

  /** TLS on; no API server: the pair and the committed state come from memory. */
  public static final class WithTls implements QuarkusTestProfile {
    @Override
    public Map<String, String> getConfigOverrides() {
      return Map.of("elasticmoe.rendezvous.tls.enabled", "true");
    }

    @Override
    public Set<Class<?>> getEnabledAlternatives() {
      return Set.of(RendezvousWiringTest.MemoryStore.class, IssuedInMemory.class);
    }
  }

  @Alternative
  @Singleton
  public static class IssuedInMemory extends RendezvousTlsSecretManager {
    @Inject
    public IssuedInMemory(KubernetesClient client, Clock clock) {
      super(client, clock);
    }

    @Override
    public RendezvousTlsMaterial ensure(String secretName, RendezvousServiceNames names) {
      assertThat(names).isEqualTo(NAMES);
      return MATERIAL;
    }
  }

  @Inject RendezvousRegistry registry;
  @Inject RendezvousTls tls;

  @ConfigProperty(name = "quarkus.grpc.server.test-port", defaultValue = "9001")
  int port;

  private StoreGrpc.StoreBlockingStub store(ManagedChannel channel) {
    return InProcessRendezvous.authed(StoreGrpc.newBlockingStub(channel), "secured-token", KEY)
        .withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  @Test
  void aClientTrustingTheOperatorCaIsServed() throws Exception {
    registry.upsert(KEY, InProcessRendezvous.spec("secured-token", 1, 0));
    ChannelCredentials trustCa = TlsChannelCredentials.newBuilder()
        .trustManager(new ByteArrayInputStream(MATERIAL.caCertificatePem().getBytes(StandardCharsets.US_ASCII)))
        .build();
    ManagedChannel channel =
        Grpc.newChannelBuilder("127.0.0.1:" + port, trustCa).overrideAuthority(NAMES.serverName()).build();
    try {
      store(channel).set(SetRequest.newBuilder().setKey("k").setValue(ByteString.copyFromUtf8("v")).build());
      assertThat(store(channel).get(GetRequest.newBuilder().setKey("k").build()).getValue().toStringUtf8())
          .isEqualTo("v");
    } finally {
      channel.shutdownNow();
    }
    assertThat(tls.caCertificatePem()).contains(MATERIAL.caCertificatePem());
    assertThat(tls.serverName()).contains("elasticmoe-operator.elasticmoe-system.svc");
  }

  @Test
  void aPlaintextClientIsRefused() {
    ManagedChannel channel = Grpc.newChannelBuilder("127.0.0.1:" + port, InsecureChannelCredentials.create()).build();
    try {
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
          () -> store(channel).set(SetRequest.newBuilder().setKey("p").setValue(ByteString.EMPTY).build()));
      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    } finally {
      channel.shutdownNow();
    }
  }
}
