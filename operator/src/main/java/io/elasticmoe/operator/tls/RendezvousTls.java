package io.elasticmoe.operator.tls;

import jakarta.enterprise.context.ApplicationScoped;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Whether the rendezvous gRPC server speaks TLS, and with which certificate. Off by default (tests,
 * local development, benchmarks); the Helm chart turns it on ({@code elasticmoe.rendezvous.tls.enabled}).
 * The pair is loaded (or issued) once per process, at startup or by whichever asks first, and then
 * shared by the server ({@link RendezvousTlsCustomizer}) and by the reconciler, which hands the CA
 * certificate to rank pods.
 */
@ApplicationScoped
public class RendezvousTls {
  private final boolean enabled;
  private final String secretName;
  private final RendezvousServiceNames names;
  private final RendezvousTlsSecretManager secrets;
  private RendezvousTlsMaterial material;

  public RendezvousTls(
      @ConfigProperty(name = "elasticmoe.rendezvous.tls.enabled", defaultValue = "false") boolean enabled,
      @ConfigProperty(name = "elasticmoe.rendezvous.tls.secret", defaultValue = "elasticmoe-operator-rendezvous-tls")
          String secretName,
      @ConfigProperty(name = "elasticmoe.operator.namespace", defaultValue = "elasticmoe-system") String namespace,
      @ConfigProperty(name = "elasticmoe.operator.service", defaultValue = "elasticmoe-operator") String service,
      RendezvousTlsSecretManager secrets) {
    this.enabled = enabled;
    this.secretName = secretName;
    this.names = new RendezvousServiceNames(service, namespace);
    this.secrets = secrets;
  }

  public boolean enabled() {
    return enabled;
  }

  public RendezvousServiceNames names() {
    return names;
  }

  /** The CA and server certificate; reads or issues them through the Secret on first use. */
  public synchronized RendezvousTlsMaterial material() {
    if (!enabled) {
      throw new IllegalStateException("rendezvous TLS is off (elasticmoe.rendezvous.tls.enabled=false)");
    }
    if (material == null) {
      material = secrets.ensure(secretName, names);
    }
    return material;
  }

  /** The CA certificate (PEM) workers must trust, or empty when the rendezvous is plaintext. */
  public Optional<String> caCertificatePem() {
    return enabled ? Optional.of(material().caCertificatePem()) : Optional.empty();
  }

  /** The name workers verify the server certificate against, or empty when the rendezvous is plaintext. */
  public Optional<String> serverName() {
    return enabled ? Optional.of(names.serverName()) : Optional.empty();
  }

  public String secretName() {
    return secretName;
  }
}
