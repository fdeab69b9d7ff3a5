package io.elasticmoe.operator.tls;

import io.grpc.netty.GrpcSslContexts;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.quarkus.grpc.api.ServerBuilderCustomizer;
import io.quarkus.grpc.runtime.config.GrpcServerConfiguration;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.StartupEvent;
import io.vertx.grpc.VertxServerBuilder;
import io.vertx.grpc.server.GrpcServerOptions;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;
import javax.net.ssl.SSLException;
import org.jboss.logging.Logger;

/**
 * Puts the rendezvous certificate on the gRPC server when {@code elasticmoe.rendezvous.tls.enabled}.
 *
 * <p>Why a customizer: quarkus-grpc 3.33's separate gRPC server takes a certificate only as files
 * ({@code quarkus.grpc.server.ssl.certificate/key}, read while the server is built) and has no TLS
 * registry hook, but the operator makes its certificate at start from a Secret, after configuration
 * is fixed. The customizer gives the server's Netty builder a TLS context whose key comes from
 * {@link RendezvousKeyManager}; the pair is loaded at {@link StartupEvent}, on the main thread.
 *
 * <p>Why not load it in {@link #customize}: that runs on a Vert.x event loop, and the Kubernetes client
 * shares Quarkus's Vert.x, so a blocking Secret read there can wait on the very loop it blocks (seen in
 * the local cluster: a 15 s stall, a client timeout, and an operator that never started). Handshakes in
 * the moment between the server's start and the load fail, and clients retry.
 */
@Singleton
public class RendezvousTlsCustomizer implements ServerBuilderCustomizer<VertxServerBuilder> {
  private static final Logger LOG = Logger.getLogger(RendezvousTlsCustomizer.class);

  private final RendezvousTls tls;
  private final RendezvousKeyManager keyManager = new RendezvousKeyManager();

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
    try {
      // The JDK provider consults the key manager on every handshake (so a later install takes effect).
      builder.nettyBuilder().sslContext(
          GrpcSslContexts.configure(SslContextBuilder.forServer(keyManager), SslProvider.JDK).build());
    } catch (SSLException e) {
      fail("cannot set up TLS for the rendezvous gRPC server: " + e.getMessage(), e);
    }
  }

  /** Reads or issues the pair through the Secret once the application has started (blocking is fine here). */
  void loadCertificate(@Observes StartupEvent event) {
    if (!tls.enabled()) {
      return;
    }
    RendezvousTlsMaterial material;
    try {
      material = tls.material();
    } catch (RuntimeException e) {
      fail("cannot load or issue the rendezvous certificate (Secret " + tls.names().namespace() + "/"
          + tls.secretName() + "): " + e.getMessage(), e);
      return;
    }
    keyManager.install(material);
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
