package io.elasticmoe.worker.rendezvous;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * How a worker checks the rendezvous it dials when that speaks TLS: the CA certificate to trust and,
 * optionally, the name the server certificate must carry. A rank pod dials the operator's ClusterIP,
 * which is not in the certificate, so the operator passes the Service's DNS name as the server name.
 *
 * @param caCertificatePem PEM of the CA that signed the rendezvous certificate
 * @param serverName the name to verify the certificate against; empty: the host of the target
 */
public record RendezvousTrust(String caCertificatePem, Optional<String> serverName) {
  private static final String PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----";

  public RendezvousTrust {
    if (caCertificatePem == null || !caCertificatePem.contains(PEM_CERTIFICATE)) {
      throw new IllegalArgumentException("the rendezvous CA is not a PEM certificate (no '" + PEM_CERTIFICATE + "')");
    }
  }

  /**
   * TLS settings from the pod's environment: EMD_RENDEZVOUS_CA (PEM text) or EMD_RENDEZVOUS_CA_FILE
   * (a path), and EMD_RENDEZVOUS_SERVER_NAME. Empty when neither CA variable is set: plaintext.
   */
  public static Optional<RendezvousTrust> fromEnv(Map<String, String> env) {
    String pem = env.get("EMD_RENDEZVOUS_CA");
    String file = env.get("EMD_RENDEZVOUS_CA_FILE");
    if (pem != null && !pem.isEmpty() && file != null && !file.isEmpty()) {
      throw new IllegalArgumentException("EMD_RENDEZVOUS_CA and EMD_RENDEZVOUS_CA_FILE are both set; set one");
    }
    if (file != null && !file.isEmpty()) {
      try {
        pem = Files.readString(Path.of(file), StandardCharsets.US_ASCII);
      } catch (IOException e) {
        throw new IllegalArgumentException("EMD_RENDEZVOUS_CA_FILE " + file + " cannot be read: " + e.getMessage(), e);
      }
    }
    String serverName = env.get("EMD_RENDEZVOUS_SERVER_NAME");
    if (pem == null || pem.isEmpty()) {
      if (serverName != null && !serverName.isEmpty()) {
        throw new IllegalArgumentException(
            "EMD_RENDEZVOUS_SERVER_NAME is set but no CA is (EMD_RENDEZVOUS_CA or EMD_RENDEZVOUS_CA_FILE)");
      }
      return Optional.empty();
    }
    return Optional.of(new RendezvousTrust(pem, Optional.ofNullable(serverName).filter(n -> !n.isEmpty())));
  }
}
