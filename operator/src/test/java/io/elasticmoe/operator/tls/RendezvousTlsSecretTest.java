package io.elasticmoe.operator.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.fabric8.kubernetes.api.model.Secret;
import java.security.SecureRandom;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class RendezvousTlsSecretTest {
  private static final RendezvousTlsMaterial MATERIAL = RendezvousCertificates.issue("test CA",
      new RendezvousServiceNames("elasticmoe-operator", "emoe").dnsNames(), Instant.parse("2026-11-30T00:00:00Z"),
      new SecureRandom());

  @Test
  void storesTheServerPairAsATlsSecretWithTheCaBesideIt() {
    Secret secret = RendezvousTlsSecret.generate("emoe", "rendezvous-tls", MATERIAL);

    assertThat(secret.getType()).isEqualTo("kubernetes.io/tls");
    assertThat(secret.getMetadata().getNamespace()).isEqualTo("emoe");
    assertThat(secret.getData()).containsOnlyKeys("ca.crt", "ca.key", "tls.crt", "tls.key");
  }

  @Test
  void aStoredSecretReadsBackToTheSameMaterial() {
    assertThat(RendezvousTlsSecret.read(RendezvousTlsSecret.generate("emoe", "rendezvous-tls", MATERIAL)))
        .isEqualTo(MATERIAL);
  }

  @Test
  void aSecretMissingAKeyIsAnErrorNamingItAndTheWayOut() {
    Secret secret = RendezvousTlsSecret.generate("emoe", "rendezvous-tls", MATERIAL);
    secret.getData().remove("ca.key");

    IllegalStateException e = assertThrows(IllegalStateException.class, () -> RendezvousTlsSecret.read(secret));

    assertThat(e).hasMessage(
        "Secret emoe/rendezvous-tls has no key 'ca.key'; delete it and restart the operator to issue a new CA");
  }
}
