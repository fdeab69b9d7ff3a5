package io.elasticmoe.operator.tls;

import io.quarkus.grpc.api.ServerBuilderCustomizer;
import io.quarkus.grpc.runtime.config.GrpcServerConfiguration;
import io.quarkus.runtime.Quarkus;
import io.vertx.grpc.VertxServerBuilder;
import io.vertx.grpc.server.GrpcServerOptions;
import jakarta.inject.Singleton;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import org.jboss.logging.Logger;

/**
 * Puts the rendezvous certificate on the gRPC server when {@code elasticmoe.rendezvous.tls.enabled}.
 *
 * <p>Why a customizer: quarkus-grpc 3.33's separate gRPC server takes a certificate only as files
 * ({@code quarkus.grpc.server.ssl.certificate/key}, read while the server is built) and has no TLS
 * registry hook, but the operator makes its certificate at start from a Secret, after configuration
 * is fixed. A {@link ServerBuilderCustomizer} runs just before that build, so it hands the PEM pair to
 * {@code useTransportSecurity} in memory: no files, no race with Quarkus reading them, and Quarkus's
 * own SSL options stay off (plain-text at the Vert.x layer, TLS in the Netty gRPC transport, the same
 * path as {@code quarkus.grpc.server.transport-security.*}). It runs once, on the event loop that
 * starts the server, before anything is served: the Secret read and the TLS context setup may hold
 * that loop long enough on a slow machine for Vert.x to log a blocked-thread warning, which is harmless.
 */
@Singleton
public class RendezvousTlsCustomizer implements ServerBuilderCustomizer<VertxServerBuilder> {
  private static final Logger LOG = Logger.getLogger(RendezvousTlsCustomizer.class);

  private final RendezvousTls tls;

  public RendezvousTlsCustomizer(RendezvousTls tls) {
    this.tls = tls;
  }

  @Override
  public void customize(GrpcServerConfiguration config, VertxServerBuilder builder) {
    if (!tls.enabled()) {
      LOG.warn("The rendezvous gRPC server is plaintext (elasticmoe.rendezvous.tls.enabled=false)");
      return;
    }
    if (config.ssl().certificate().isPresent() || config.ssl().keyStore().isPresent()) {
      fail("elasticmoe.rendezvous.tls.enabled=true and quarkus.grpc.server.ssl.* are both set; "
          + "use one: the operator's own CA, or your certificate with elasticmoe.rendezvous.tls.enabled=false", null);
    }
    RendezvousTlsMaterial material;
    try {
      material = tls.material();
    } catch (RuntimeException e) {
      fail("cannot load or issue the rendezvous certificate (Secret " + tls.names().namespace() + "/"
          + tls.secretName() + "): " + e.getMessage(), e);
      return;
    }
    builder.useTransportSecurity(
        new ByteArrayInputStream(material.serverCertificatePem().getBytes(StandardCharsets.US_ASCII)),
        new ByteArrayInputStream(material.serverKeyPem().getBytes(StandardCharsets.US_ASCII)));
    LOG.infof("The rendezvous gRPC server speaks TLS as %s (certificate valid until %s, CA %s)",
        tls.names().dnsNames(), material.serverCertificate().getNotAfter().toInstant(),
        material.caCertificate().getSubjectX500Principal().getName());
  }

  @Override
  public void customize(GrpcServerConfiguration config, GrpcServerOptions options) {
    // Only reached when gRPC shares the HTTP server, whose TLS this class does not set up.
    if (tls.enabled()) {
      fail("rendezvous TLS needs quarkus.grpc.server.use-separate-server=true", null);
    }
  }

  /**
   * quarkus-grpc logs a failed server start and carries on; an operator whose rendezvous is not
   * serving is useless, so exit and let Kubernetes restart it with the reason in the log.
   */
  private static void fail(String message, Throwable cause) {
    LOG.error(message, cause);
    Quarkus.asyncExit(1);
    throw new IllegalStateException(message, cause);
  }
}
