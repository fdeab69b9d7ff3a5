package io.elasticmoe.operator.tls;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import jakarta.enterprise.context.ApplicationScoped;
import java.net.HttpURLConnection;
import java.security.SecureRandom;
import java.time.Clock;
import org.jboss.logging.Logger;

/**
 * Owns the Secret that stores the rendezvous CA and server certificate: reads it, creates it the first
 * time, and writes a renewed pair back (see {@link RendezvousCertificates#renewal}). Two operators
 * starting at once may race to create or renew it; the loser of the API server's conflict check
 * re-reads and uses the winner's pair, so every replica serves the same CA.
 */
@ApplicationScoped
public class RendezvousTlsSecretManager {
  private static final Logger LOG = Logger.getLogger(RendezvousTlsSecretManager.class);
  private static final int ATTEMPTS = 3;

  private final KubernetesClient client;
  private final Clock clock;
  private final SecureRandom random = new SecureRandom();

  public RendezvousTlsSecretManager(KubernetesClient client, Clock clock) {
    this.client = client;
    this.clock = clock;
  }

  /** The stored pair, created or renewed first when needed. */
  public RendezvousTlsMaterial ensure(String secretName, RendezvousServiceNames names) {
    for (int attempt = 1; ; attempt++) {
      try {
        return ensureOnce(secretName, names);
      } catch (KubernetesClientException e) {
        if (e.getCode() != HttpURLConnection.HTTP_CONFLICT || attempt == ATTEMPTS) {
          throw e;
        }
        LOG.infof("Secret %s/%s changed while we wrote it; reading it again", names.namespace(), secretName);
      }
    }
  }

  private RendezvousTlsMaterial ensureOnce(String secretName, RendezvousServiceNames names) {
    var secrets = client.secrets().inNamespace(names.namespace());
    Secret existing = secrets.withName(secretName).get();
    if (existing == null) {
      RendezvousTlsMaterial issued = RendezvousCertificates.issue(
          "elasticmoe rendezvous CA " + names.namespace(), names.dnsNames(), clock.instant(), random);
      secrets.resource(RendezvousTlsSecret.generate(names.namespace(), secretName, issued)).create();
      LOG.infof("Issued a new rendezvous CA and server certificate for %s in Secret %s/%s",
          names.dnsNames(), names.namespace(), secretName);
      return issued;
    }
    RendezvousTlsMaterial stored = RendezvousTlsSecret.read(existing);
    RendezvousTlsMaterial renewed = switch (RendezvousCertificates.renewal(stored, names.dnsNames(), clock.instant())) {
      case NONE -> stored;
      case NEW_SERVER_CERTIFICATE -> RendezvousCertificates.reissueServer(stored, names.dnsNames(), clock.instant(), random);
      case NEW_CA -> RendezvousCertificates.issue(
          "elasticmoe rendezvous CA " + names.namespace(), names.dnsNames(), clock.instant(), random);
    };
    if (renewed == stored) {
      return stored;
    }
    Secret replacement = RendezvousTlsSecret.generate(names.namespace(), secretName, renewed);
    // Optimistic concurrency: the update fails with a conflict if another operator wrote first.
    replacement.getMetadata().setResourceVersion(existing.getMetadata().getResourceVersion());
    secrets.resource(replacement).update();
    LOG.infof("Renewed the rendezvous %s in Secret %s/%s for %s",
        renewed.caCertificatePem().equals(stored.caCertificatePem()) ? "server certificate" : "CA (it had expired)",
        names.namespace(), secretName, names.dnsNames());
    return renewed;
  }
}
