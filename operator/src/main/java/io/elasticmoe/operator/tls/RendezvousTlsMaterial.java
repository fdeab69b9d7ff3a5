package io.elasticmoe.operator.tls;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;

/**
 * The rendezvous CA and the server certificate it signed, as PEM text: the form in which they are
 * stored in the Secret, served by gRPC (certificate chain + PKCS#8 key) and handed to workers (CA only).
 */
public record RendezvousTlsMaterial(
    String caCertificatePem, String caKeyPem, String serverCertificatePem, String serverKeyPem) {

  public X509Certificate caCertificate() {
    return certificate(caCertificatePem, "CA certificate");
  }

  public X509Certificate serverCertificate() {
    return certificate(serverCertificatePem, "server certificate");
  }

  PrivateKey serverKey() {
    return privateKey(serverKeyPem, serverCertificate().getPublicKey().getAlgorithm(), "server key");
  }

  PrivateKey caKey() {
    return privateKey(caKeyPem, caCertificate().getPublicKey().getAlgorithm(), "CA key");
  }

  static String pem(String type, byte[] der) {
    return "-----BEGIN " + type + "-----\n"
        + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
        + "\n-----END " + type + "-----\n";
  }

  static X509Certificate certificate(String pem, String what) {
    try {
      return (X509Certificate) CertificateFactory.getInstance("X.509")
          .generateCertificate(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
    } catch (CertificateException e) {
      throw new IllegalArgumentException("the rendezvous " + what + " is not a PEM X.509 certificate: " + e.getMessage(), e);
    }
  }

  static PrivateKey privateKey(String pem, String algorithm, String what) {
    String body = pem.replace("-----BEGIN PRIVATE KEY-----", "").replace("-----END PRIVATE KEY-----", "")
        .replaceAll("\\s", "");
    try {
      return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(body)));
    } catch (GeneralSecurityException | IllegalArgumentException e) {
      throw new IllegalArgumentException("the rendezvous " + what + " is not a PEM PKCS#8 " + algorithm + " key: "
          + e.getMessage(), e);
    }
  }
}
