package io.elasticmoe.operator.tls;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Issues the rendezvous CA and its server certificate, and decides when a stored pair must be renewed.
 * No I/O and no clock: the caller passes the time and the randomness.
 *
 * <p>Keys are ECDSA P-256 (small, fast handshakes, supported by every gRPC TLS stack). The CA lives
 * ten years and signs only this server's certificate ({@code pathLen 0}); the server certificate lives
 * two years and names every DNS name of the operator's Service. Both start an hour in the past so a
 * worker whose clock lags the operator's still accepts a fresh certificate. Bouncy Castle builds the
 * certificates (the JDK has no public API for that); signing uses the JDK's own providers.
 */
public final class RendezvousCertificates {
  static final Duration CA_VALIDITY = Duration.ofDays(3650);
  static final Duration SERVER_VALIDITY = Duration.ofDays(730);
  static final Duration CLOCK_SKEW = Duration.ofHours(1);
  /** A server certificate with less than this left is renewed at the operator's next start. */
  static final Duration SERVER_RENEW_BEFORE = Duration.ofDays(240);

  private RendezvousCertificates() {}

  /** A new CA and a server certificate for {@code dnsNames} signed by it. */
  public static RendezvousTlsMaterial issue(String caName, List<String> dnsNames, Instant now, SecureRandom random) {
    KeyPair ca = newKeyPair(random);
    X500Principal caSubject = new X500Principal("CN=" + caName);
    X509Certificate caCertificate;
    try {
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder builder =
          new JcaX509v3CertificateBuilder(caSubject, serial(random), notBefore(now), notAfter(now, CA_VALIDITY),
              caSubject, ca.getPublic())
              .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
              .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
              .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(ca.getPublic()));
      caCertificate = sign(builder, ca.getPrivate());
    } catch (CertIOException | GeneralSecurityException e) {
      throw new IllegalStateException("cannot build the rendezvous CA certificate: " + e.getMessage(), e);
    }
    String caCertificatePem = RendezvousTlsMaterial.pem("CERTIFICATE", encoded(caCertificate));
    String caKeyPem = RendezvousTlsMaterial.pem("PRIVATE KEY", ca.getPrivate().getEncoded());
    return issueServer(caCertificatePem, caKeyPem, caCertificate, ca.getPrivate(), dnsNames, now, random);
  }

  /** A new server certificate for {@code dnsNames}, signed by the CA of {@code existing}, which is kept. */
  public static RendezvousTlsMaterial reissueServer(
      RendezvousTlsMaterial existing, List<String> dnsNames, Instant now, SecureRandom random) {
    return issueServer(existing.caCertificatePem(), existing.caKeyPem(), existing.caCertificate(), existing.caKey(),
        dnsNames, now, random);
  }

  /**
   * What a stored pair needs at {@code now}: nothing, a new server certificate (the Service's names
   * changed, it expires within {@link #SERVER_RENEW_BEFORE}, or the CA no longer signs it), or a new
   * CA (it has expired: no worker can trust it anyway). A CA still valid is never replaced here,
   * since rank pods already running trust it; rotating it is a deliberate act (see docs/rendezvous.md).
   */
  public static Renewal renewal(RendezvousTlsMaterial stored, List<String> dnsNames, Instant now) {
    X509Certificate ca = stored.caCertificate();
    if (!now.isBefore(ca.getNotAfter().toInstant())) {
      return Renewal.NEW_CA;
    }
    X509Certificate server = stored.serverCertificate();
    boolean namesMatch = Set.copyOf(dnsNames).equals(dnsNamesOf(server));
    boolean fresh = now.plus(SERVER_RENEW_BEFORE).isBefore(server.getNotAfter().toInstant());
    return namesMatch && fresh && signedBy(server, ca.getPublicKey()) ? Renewal.NONE : Renewal.NEW_SERVER_CERTIFICATE;
  }

  public enum Renewal {
    NONE,
    NEW_SERVER_CERTIFICATE,
    NEW_CA
  }

  /** The DNS subject alternative names of {@code certificate}. */
  public static Set<String> dnsNamesOf(X509Certificate certificate) {
    Set<String> names = new HashSet<>();
    try {
      Collection<List<?>> sans = certificate.getSubjectAlternativeNames();
      if (sans != null) {
        for (List<?> san : sans) {
          if (((Integer) san.get(0)) == GeneralName.dNSName) {
            names.add((String) san.get(1));
          }
        }
      }
    } catch (CertificateParsingException e) {
      throw new IllegalArgumentException("unreadable subject alternative names: " + e.getMessage(), e);
    }
    return names;
  }

  static boolean signedBy(X509Certificate certificate, PublicKey issuerKey) {
    try {
      certificate.verify(issuerKey);
      return true;
    } catch (GeneralSecurityException e) {
      return false;
    }
  }

  private static RendezvousTlsMaterial issueServer(
      String caCertificatePem, String caKeyPem, X509Certificate caCertificate, PrivateKey caKey,
      List<String> dnsNames, Instant now, SecureRandom random) {
    if (dnsNames.isEmpty()) {
      throw new IllegalArgumentException("a server certificate needs at least one DNS name");
    }
    KeyPair server = newKeyPair(random);
    // The server certificate never outlives its CA: a chain with an expired issuer fails anyway.
    Instant caEnd = caCertificate.getNotAfter().toInstant();
    Instant end = now.plus(SERVER_VALIDITY).isAfter(caEnd) ? caEnd : now.plus(SERVER_VALIDITY);
    X509Certificate certificate;
    try {
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      GeneralNames sans = new GeneralNames(
          dnsNames.stream().map(n -> new GeneralName(GeneralName.dNSName, n)).toArray(GeneralName[]::new));
      X509v3CertificateBuilder builder =
          new JcaX509v3CertificateBuilder(caCertificate.getSubjectX500Principal(), serial(random), notBefore(now),
              Date.from(end), new X500Principal("CN=" + dnsNames.get(0)), server.getPublic())
              .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
              .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
              .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth))
              .addExtension(Extension.subjectAlternativeName, false, sans)
              .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(server.getPublic()))
              .addExtension(Extension.authorityKeyIdentifier, false,
                  ext.createAuthorityKeyIdentifier(caCertificate.getPublicKey()));
      certificate = sign(builder, caKey);
    } catch (CertIOException | GeneralSecurityException e) {
      throw new IllegalStateException("cannot build the rendezvous server certificate: " + e.getMessage(), e);
    }
    return new RendezvousTlsMaterial(caCertificatePem, caKeyPem,
        RendezvousTlsMaterial.pem("CERTIFICATE", encoded(certificate)),
        RendezvousTlsMaterial.pem("PRIVATE KEY", server.getPrivate().getEncoded()));
  }

  private static KeyPair newKeyPair(SecureRandom random) {
    try {
      KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
      generator.initialize(new ECGenParameterSpec("secp256r1"), random);
      return generator.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("every JDK has EC P-256 keys", e);
    }
  }

  /** Signs with SHA-256 and the issuer key's own algorithm: ours is EC, a CA put in by hand may be RSA. */
  private static X509Certificate sign(X509v3CertificateBuilder builder, PrivateKey key)
      throws GeneralSecurityException {
    String signature = "RSA".equals(key.getAlgorithm()) ? "SHA256withRSA" : "SHA256withECDSA";
    try {
      return new JcaX509CertificateConverter().getCertificate(builder.build(new JcaContentSignerBuilder(signature).build(key)));
    } catch (OperatorCreationException e) {
      throw new GeneralSecurityException(signature + " signer: " + e.getMessage(), e);
    }
  }

  private static byte[] encoded(X509Certificate certificate) {
    try {
      return certificate.getEncoded();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("a certificate just built encodes", e);
    }
  }

  /** Positive and 127 bits of randomness (RFC 5280 allows up to 20 octets). */
  private static BigInteger serial(SecureRandom random) {
    return new BigInteger(127, random).setBit(0);
  }

  private static Date notBefore(Instant now) {
    return Date.from(now.minus(CLOCK_SKEW));
  }

  private static Date notAfter(Instant now, Duration validity) {
    return Date.from(now.plus(validity));
  }
}
