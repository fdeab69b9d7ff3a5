package io.elasticmoe.worker.rendezvous;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RendezvousTrustTest {
  private static final String CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

  @Test
  void noCaMeansPlaintext() {
    assertThat(RendezvousTrust.fromEnv(Map.of("EMD_RENDEZVOUS", "10.0.0.7:9090"))).isEmpty();
  }

  @Test
  void readsTheCaAndServerNameTheOperatorInjects() {
    Map<String, String> env =
        Map.of("EMD_RENDEZVOUS_CA", CA, "EMD_RENDEZVOUS_SERVER_NAME", "elasticmoe-operator.elasticmoe-system.svc");

    assertThat(RendezvousTrust.fromEnv(env))
        .contains(new RendezvousTrust(CA, Optional.of("elasticmoe-operator.elasticmoe-system.svc")));
  }

  @Test
  void readsTheCaFromAFileAndVerifiesTheTargetHostWithoutAServerName(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("ca.crt");
    Files.writeString(file, CA);

    assertThat(RendezvousTrust.fromEnv(Map.of("EMD_RENDEZVOUS_CA_FILE", file.toString())))
        .contains(new RendezvousTrust(CA, Optional.empty()));
  }

  @Test
  void rejectsAmbiguousOrBrokenSettingsNamingTheVariable(@TempDir Path dir) {
    Map<String, String> both = new HashMap<>(Map.of("EMD_RENDEZVOUS_CA", CA, "EMD_RENDEZVOUS_CA_FILE", "/x"));
    assertThat(assertThrows(IllegalArgumentException.class, () -> RendezvousTrust.fromEnv(both)))
        .hasMessageContaining("both set");
    Path missing = dir.resolve("absent.crt");
    assertThat(assertThrows(IllegalArgumentException.class,
        () -> RendezvousTrust.fromEnv(Map.of("EMD_RENDEZVOUS_CA_FILE", missing.toString()))))
        .hasMessageContaining("EMD_RENDEZVOUS_CA_FILE " + missing);
    assertThat(assertThrows(IllegalArgumentException.class,
        () -> RendezvousTrust.fromEnv(Map.of("EMD_RENDEZVOUS_CA", "not a certificate"))))
        .hasMessageContaining("not a PEM certificate");
    assertThat(assertThrows(IllegalArgumentException.class,
        () -> RendezvousTrust.fromEnv(Map.of("EMD_RENDEZVOUS_SERVER_NAME", "svc"))))
        .hasMessageContaining("no CA");
  }
}
