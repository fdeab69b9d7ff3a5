package io.elasticmoe.operator.tls;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The Secret in the operator's namespace that keeps the rendezvous CA and server certificate, so a
 * restarted operator or a new leader serves the same certificate and workers keep trusting it. Type
 * {@code kubernetes.io/tls} (tls.crt, tls.key: the server's) plus the CA's ca.crt and ca.key.
 */
public final class RendezvousTlsSecret {
  public static final String CA_CERTIFICATE_KEY = "ca.crt";
  public static final String CA_KEY_KEY = "ca.key";
  public static final String SERVER_CERTIFICATE_KEY = "tls.crt";
  public static final String SERVER_KEY_KEY = "tls.key";
  static final String TYPE = "kubernetes.io/tls";

  private RendezvousTlsSecret() {}

  public static Secret generate(String namespace, String name, RendezvousTlsMaterial material) {
    Map<String, String> data = new LinkedHashMap<>();
    data.put(CA_CERTIFICATE_KEY, base64(material.caCertificatePem()));
    data.put(CA_KEY_KEY, base64(material.caKeyPem()));
    data.put(SERVER_CERTIFICATE_KEY, base64(material.serverCertificatePem()));
    data.put(SERVER_KEY_KEY, base64(material.serverKeyPem()));
    return new SecretBuilder()
        .withNewMetadata()
        .withName(name)
        .withNamespace(namespace)
        .withLabels(Map.of("app.kubernetes.io/managed-by", "elasticmoe-operator",
            "app.kubernetes.io/component", "rendezvous-tls"))
        .endMetadata()
        .withType(TYPE)
        .withData(data)
        .build();
  }

  /** The material a stored Secret holds; a missing key is an error that names it and the way out. */
  public static RendezvousTlsMaterial read(Secret secret) {
    Map<String, String> data = secret.getData() == null ? Map.of() : secret.getData();
    String where = "Secret " + secret.getMetadata().getNamespace() + "/" + secret.getMetadata().getName();
    return new RendezvousTlsMaterial(
        required(data, CA_CERTIFICATE_KEY, where), required(data, CA_KEY_KEY, where),
        required(data, SERVER_CERTIFICATE_KEY, where), required(data, SERVER_KEY_KEY, where));
  }

  private static String required(Map<String, String> data, String key, String where) {
    String encoded = data.get(key);
    if (encoded == null || encoded.isEmpty()) {
      throw new IllegalStateException(
          where + " has no key '" + key + "'; delete it and restart the operator to issue a new CA");
    }
    return new String(Base64.getDecoder().decode(encoded), StandardCharsets.US_ASCII);
  }

  private static String base64(String pem) {
    return Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII));
  }
}
