package io.elasticmoe.operator.credentials;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.operator.model.RendezvousCredential;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;

/**
 * Owns the per-deployment rendezvous credential Secret: creates it once with a random token and
 * afterwards only reads it, so a restarted operator accepts the tokens its pods already hold.
 */
@ApplicationScoped
public class CredentialSecretManager {
  private static final int TOKEN_BYTES = 32;

  private final KubernetesClient client;
  private final SecureRandom random = new SecureRandom();

  public CredentialSecretManager(KubernetesClient client) {
    this.client = client;
  }

  /** Returns the deployment's token, creating its Secret first if needed. */
  public String ensureToken(ElasticMoEDeployment emd) {
    String namespace = emd.getMetadata().getNamespace();
    String name = RendezvousCredential.secretName(emd.getMetadata().getName());
    Secret existing = client.secrets().inNamespace(namespace).withName(name).get();
    if (existing == null) {
      byte[] bytes = new byte[TOKEN_BYTES];
      random.nextBytes(bytes);
      String token = HexFormat.of().formatHex(bytes);
      client.secrets().inNamespace(namespace).resource(RendezvousCredential.generateSecret(emd, token)).create();
      return token;
    }
    String encoded = existing.getData() == null ? null : existing.getData().get(RendezvousCredential.TOKEN_KEY);
    if (encoded == null) {
      throw new IllegalStateException(
          "Secret " + namespace + "/" + name + " has no key '" + RendezvousCredential.TOKEN_KEY + "'; delete it to regenerate");
    }
    return new String(Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8);
  }
}
