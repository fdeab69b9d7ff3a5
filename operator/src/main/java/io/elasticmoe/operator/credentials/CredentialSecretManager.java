package io.elasticmoe.operator.credentials;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.operator.model.RendezvousCredential;
import io.elasticmoe.operator.tls.RendezvousTls;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Objects;
import java.util.Optional;

/**
 * Owns the per-deployment rendezvous credential Secret: creates it once with a random token and
 * afterwards only reads the token, so a restarted operator accepts the tokens its pods already hold.
 * Its {@code ca.crt} follows the rendezvous: set to the current CA while TLS is on (a renewed CA
 * reaches new rank pods), removed while it is off (a worker would otherwise dial TLS to a plaintext
 * server).
 */
@ApplicationScoped
public class CredentialSecretManager {
  private static final int TOKEN_BYTES = 32;

  private final KubernetesClient client;
  private final RendezvousTls tls;
  private final SecureRandom random = new SecureRandom();

  public CredentialSecretManager(KubernetesClient client, RendezvousTls tls) {
    this.client = client;
    this.tls = tls;
  }

  /** Returns the deployment's token, creating its Secret first if needed. */
  public String ensureToken(ElasticMoEDeployment emd) {
    String namespace = emd.getMetadata().getNamespace();
    String name = RendezvousCredential.secretName(emd.getMetadata().getName());
    Optional<String> ca = tls.caCertificatePem();
    Secret existing = client.secrets().inNamespace(namespace).withName(name).get();
    if (existing == null) {
      byte[] bytes = new byte[TOKEN_BYTES];
      random.nextBytes(bytes);
      String token = HexFormat.of().formatHex(bytes);
      client.secrets().inNamespace(namespace).resource(RendezvousCredential.generateSecret(emd, token, ca)).create();
      return token;
    }
    String encoded = existing.getData() == null ? null : existing.getData().get(RendezvousCredential.TOKEN_KEY);
    if (encoded == null) {
      throw new IllegalStateException(
          "Secret " + namespace + "/" + name + " has no key '" + RendezvousCredential.TOKEN_KEY + "'; delete it to regenerate");
    }
    keepCaCertificateCurrent(existing, ca);
    return new String(Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8);
  }

  private void keepCaCertificateCurrent(Secret existing, Optional<String> ca) {
    String storedEncoded = existing.getData().get(RendezvousCredential.CA_CERTIFICATE_KEY);
    String stored = storedEncoded == null ? null : new String(Base64.getDecoder().decode(storedEncoded), StandardCharsets.US_ASCII);
    if (Objects.equals(stored, ca.orElse(null))) {
      return;
    }
    client.secrets().inNamespace(existing.getMetadata().getNamespace()).withName(existing.getMetadata().getName())
        .edit(secret -> {
          if (ca.isPresent()) {
            secret.getData().put(RendezvousCredential.CA_CERTIFICATE_KEY,
                Base64.getEncoder().encodeToString(ca.get().getBytes(StandardCharsets.US_ASCII)));
          } else {
            secret.getData().remove(RendezvousCredential.CA_CERTIFICATE_KEY);
          }
          return secret;
        });
  }
}
