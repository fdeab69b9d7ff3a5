package io.elasticmoe.operator.tls;

import static org.assertj.core.api.Assertions.assertThat;

import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class RendezvousCertificatesTest {
  private static final Instant NOW = Instant.parse("2026-11-30T12:00:00Z");
  private static final RendezvousServiceNames NAMES = new RendezvousServiceNames("elasticmoe-operator", "emoe");
  private static final SecureRandom RANDOM = new SecureRandom();

  private static RendezvousTlsMaterial issued() {
    return RendezvousCertificates.issue("test CA", NAMES.dnsNames(), NOW, RANDOM);
  }

  @Test
  void serverCertificateNamesEveryDnsNameOfTheService() {
    X509Certificate server = issued().serverCertificate();

    assertThat(RendezvousCertificates.dnsNamesOf(server)).containsExactlyInAnyOrder(
        "elasticmoe-operator", "elasticmoe-operator.emoe", "elasticmoe-operator.emoe.svc",
        "elasticmoe-operator.emoe.svc.cluster.local");
    assertThat(NAMES.dnsNames()).contains(NAMES.serverName());
  }

  @Test
  void theCaSignsTheServerCertificateAndOnlyTheCaMaySign() throws Exception {
    RendezvousTlsMaterial m = issued();
    X509Certificate ca = m.caCertificate();
    X509Certificate server = m.serverCertificate();

    server.verify(ca.getPublicKey());
    ca.verify(ca.getPublicKey());
    assertThat(server.getIssuerX500Principal()).isEqualTo(ca.getSubjectX500Principal());
    assertThat(ca.getBasicConstraints()).isEqualTo(0);
    assertThat(ca.getKeyUsage()[5]).as("keyCertSign").isTrue();
    assertThat(server.getBasicConstraints()).isEqualTo(-1);
    assertThat(server.getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1");
    assertThat(RendezvousCertificates.signedBy(server, issued().caCertificate().getPublicKey())).isFalse();
  }

  @Test
  void validityStartsBeforeNowForClockSkewAndLastsItsTerm() {
    RendezvousTlsMaterial m = issued();

    assertThat(m.caCertificate().getNotBefore().toInstant()).isEqualTo(NOW.minus(Duration.ofHours(1)));
    assertThat(m.caCertificate().getNotAfter().toInstant()).isEqualTo(NOW.plus(Duration.ofDays(3650)));
    assertThat(m.serverCertificate().getNotBefore().toInstant()).isEqualTo(NOW.minus(Duration.ofHours(1)));
    assertThat(m.serverCertificate().getNotAfter().toInstant()).isEqualTo(NOW.plus(Duration.ofDays(730)));
  }

  @Test
  void serverKeyMatchesItsCertificate() throws Exception {
    RendezvousTlsMaterial m = issued();
    var key = RendezvousTlsMaterial.privateKey(m.serverKeyPem(), "EC", "server key");
    var signature = java.security.Signature.getInstance("SHA256withECDSA");
    signature.initSign(key);
    signature.update(new byte[] {1, 2, 3});
    byte[] signed = signature.sign();
    signature.initVerify(m.serverCertificate().getPublicKey());
    signature.update(new byte[] {1, 2, 3});

    assertThat(signature.verify(signed)).isTrue();
    assertThat(m.serverKeyPem()).startsWith("-----BEGIN PRIVATE KEY-----");
  }

  @Test
  void aStoredPairIsReusedWhileItFitsTheServiceAndIsFresh() {
    RendezvousTlsMaterial m = issued();

    assertThat(RendezvousCertificates.renewal(m, NAMES.dnsNames(), NOW.plus(Duration.ofDays(300))))
        .isEqualTo(RendezvousCertificates.Renewal.NONE);
  }

  @Test
  void serverCertificateIsReissuedByTheSameCaWhenNamesChangeOrItNearsExpiry() throws Exception {
    RendezvousTlsMaterial m = issued();
    List<String> renamed = new RendezvousServiceNames("emoe-rendezvous", "emoe").dnsNames();

    assertThat(RendezvousCertificates.renewal(m, renamed, NOW)).isEqualTo(RendezvousCertificates.Renewal.NEW_SERVER_CERTIFICATE);
    assertThat(RendezvousCertificates.renewal(m, NAMES.dnsNames(), NOW.plus(Duration.ofDays(500))))
        .isEqualTo(RendezvousCertificates.Renewal.NEW_SERVER_CERTIFICATE);

    RendezvousTlsMaterial reissued = RendezvousCertificates.reissueServer(m, renamed, NOW, RANDOM);
    assertThat(reissued.caCertificatePem()).isEqualTo(m.caCertificatePem());
    assertThat(reissued.caKeyPem()).isEqualTo(m.caKeyPem());
    reissued.serverCertificate().verify(m.caCertificate().getPublicKey());
    assertThat(RendezvousCertificates.dnsNamesOf(reissued.serverCertificate())).containsExactlyInAnyOrderElementsOf(renamed);
    assertThat(RendezvousCertificates.renewal(reissued, renamed, NOW)).isEqualTo(RendezvousCertificates.Renewal.NONE);
  }

  @Test
  void aServerCertificateNotSignedByTheStoredCaIsReissued() {
    RendezvousTlsMaterial m = issued();
    RendezvousTlsMaterial other = issued();
    RendezvousTlsMaterial mixed =
        new RendezvousTlsMaterial(m.caCertificatePem(), m.caKeyPem(), other.serverCertificatePem(), other.serverKeyPem());

    assertThat(RendezvousCertificates.renewal(mixed, NAMES.dnsNames(), NOW))
        .isEqualTo(RendezvousCertificates.Renewal.NEW_SERVER_CERTIFICATE);
  }

  @Test
  void anExpiredCaIsReplaced() {
    assertThat(RendezvousCertificates.renewal(issued(), NAMES.dnsNames(), NOW.plus(Duration.ofDays(3651))))
        .isEqualTo(RendezvousCertificates.Renewal.NEW_CA);
  }

  @Test
  void aServerCertificateNeverOutlivesItsCa() {
    RendezvousTlsMaterial m = issued();
    Instant late = NOW.plus(Duration.ofDays(3400));

    RendezvousTlsMaterial reissued = RendezvousCertificates.reissueServer(m, NAMES.dnsNames(), late, RANDOM);

    assertThat(reissued.serverCertificate().getNotAfter()).isEqualTo(m.caCertificate().getNotAfter());
  }

  @Test
  void aHandMadeRsaCaCanReissueTheServerCertificate() throws Exception {
    var generator = java.security.KeyPairGenerator.getInstance("RSA");
    generator.initialize(2048, RANDOM);
    var rsa = generator.generateKeyPair();
    var subject = new javax.security.auth.x500.X500Principal("CN=own CA");
    var ca = new org.bouncycastle.cert.jcajce.JcaX509CertificateConverter().getCertificate(
        new org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder(subject, java.math.BigInteger.TEN,
            java.util.Date.from(NOW.minus(Duration.ofDays(1))), java.util.Date.from(NOW.plus(Duration.ofDays(3000))),
            subject, rsa.getPublic())
            .addExtension(org.bouncycastle.asn1.x509.Extension.basicConstraints, true,
                new org.bouncycastle.asn1.x509.BasicConstraints(0))
            .build(new org.bouncycastle.operator.jcajce.JcaContentSignerBuilder("SHA256withRSA").build(rsa.getPrivate())));
    RendezvousTlsMaterial own = issued();
    RendezvousTlsMaterial withRsaCa = new RendezvousTlsMaterial(
        RendezvousTlsMaterial.pem("CERTIFICATE", ca.getEncoded()),
        RendezvousTlsMaterial.pem("PRIVATE KEY", rsa.getPrivate().getEncoded()),
        own.serverCertificatePem(), own.serverKeyPem());
    assertThat(RendezvousCertificates.renewal(withRsaCa, NAMES.dnsNames(), NOW))
        .isEqualTo(RendezvousCertificates.Renewal.NEW_SERVER_CERTIFICATE);

    RendezvousTlsMaterial reissued = RendezvousCertificates.reissueServer(withRsaCa, NAMES.dnsNames(), NOW, RANDOM);

    reissued.serverCertificate().verify(rsa.getPublic());
    assertThat(reissued.serverCertificate().getSigAlgName()).isEqualTo("SHA256withRSA");
  }
}
