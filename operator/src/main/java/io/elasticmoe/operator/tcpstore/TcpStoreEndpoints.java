package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The TCPStore endpoints of the operator: at most one listener per deployment whose {@code
 * spec.rendezvous.tcpStore.enabled} is true, each on its own operator-side port and serving that
 * deployment's store namespace. The reconciler calls {@link #ensure} while the field is enabled and
 * {@link #remove} when it is disabled or the deployment is gone.
 */
public final class TcpStoreEndpoints implements AutoCloseable {
  private final KeyValueCore core;
  private final TcpStoreLimits limits;
  private final String bindHost;
  private final Map<DeploymentKey, TcpStoreEndpoint> endpoints = new HashMap<>();

  /** @param bindHost the address listeners bind, e.g. {@code 0.0.0.0} in a pod */
  public TcpStoreEndpoints(KeyValueCore core, TcpStoreLimits limits, String bindHost) {
    this.core = Objects.requireNonNull(core, "core");
    this.limits = Objects.requireNonNull(limits, "limits");
    this.bindHost = Objects.requireNonNull(bindHost, "bindHost");
  }

  /**
   * The store namespace of a deployment: the same {@code <namespace>/<name>} the gRPC StoreService
   * serves it under (the {@code x-elasticmoe-deployment} form), so keys are shared.
   */
  public static String storeNamespace(DeploymentKey deployment) {
    return deployment.toString();
  }

  /**
   * Starts the deployment's listener on {@code port} unless it already runs there; one on another port
   * is replaced (its clients reconnect). Port 0 picks a free port. Returns the port listened on.
   *
   * @throws java.io.UncheckedIOException when the port cannot be bound; the message names both
   */
  public synchronized int ensure(DeploymentKey deployment, int port) {
    if (port < 0 || port > 65_535) {
      throw new IllegalArgumentException(
          "tcpstore port for " + deployment + " is " + port + "; it must be between 0 and 65535");
    }
    TcpStoreEndpoint running = endpoints.get(deployment);
    if (running != null) {
      if (port == 0 || running.port() == port) {
        return running.port();
      }
      endpoints.remove(deployment).close();
    }
    TcpStoreEndpoint started =
        TcpStoreEndpoint.start(
            deployment.toString(),
            storeNamespace(deployment),
            new InetSocketAddress(bindHost, port),
            core,
            limits);
    endpoints.put(deployment, started);
    return started.port();
  }

  /** Stops the deployment's listener; returns whether one was running. The store keeps its keys. */
  public synchronized boolean remove(DeploymentKey deployment) {
    TcpStoreEndpoint endpoint = endpoints.remove(deployment);
    if (endpoint == null) {
      return false;
    }
    endpoint.close();
    return true;
  }

  public synchronized Optional<TcpStoreEndpoint> endpoint(DeploymentKey deployment) {
    return Optional.ofNullable(endpoints.get(deployment));
  }

  @Override
  public synchronized void close() {
    endpoints.values().forEach(TcpStoreEndpoint::close);
    endpoints.clear();
  }
}
