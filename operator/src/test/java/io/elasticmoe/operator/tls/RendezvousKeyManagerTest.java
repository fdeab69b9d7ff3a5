package io.elasticmoe.operator.tls;

import static org.assertj.core.api.Assertions.assertThat;

import java.security.SecureRandom;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class RendezvousKeyManagerTest {

  private static RendezvousTlsMaterial issue(String ca) {
    return RendezvousCertificates.issue(ca, List.of("elasticmoe-operator.elasticmoe-system.svc"), Instant.now(),
        new SecureRandom());
  }

  @Test
  void offersNoCertificateUntilOneIsInstalled() {
    RendezvousKeyManager keyManager = new RendezvousKeyManager();
    assertThat(keyManager.installed()).isFalse();
    assertThat(keyManager.chooseEngineServerAlias("EC", null, null)).isNull();
    assertThat(keyManager.getCertificateChain(RendezvousKeyManager.ALIAS)).isNull();
    assertThat(keyManager.getPrivateKey(RendezvousKeyManager.ALIAS)).isNull();
  }

  @Test
  void servesTheInstalledPairForItsKeyTypeOnlyAndALaterInstallReplacesIt() {
    RendezvousKeyManager keyManager = new RendezvousKeyManager();
    RendezvousTlsMaterial first = issue("first CA");
    keyManager.install(first);
    assertThat(keyManager.chooseEngineServerAlias("EC", null, null)).isEqualTo(RendezvousKeyManager.ALIAS);
    assertThat(keyManager.chooseEngineServerAlias("RSA", null, null)).isNull();
    assertThat(keyManager.getCertificateChain(RendezvousKeyManager.ALIAS)).containsExactly(first.serverCertificate());
    assertThat(keyManager.getPrivateKey(RendezvousKeyManager.ALIAS)).isEqualTo(first.serverKey());
    assertThat(keyManager.getPrivateKey("another")).isNull();

    RendezvousTlsMaterial second = issue("second CA");
    keyManager.install(second);
    assertThat(keyManager.getCertificateChain(RendezvousKeyManager.ALIAS)).containsExactly(second.serverCertificate());
    assertThat(keyManager.chooseClientAlias(new String[] {"EC"}, null, null)).isNull();
  }
}
