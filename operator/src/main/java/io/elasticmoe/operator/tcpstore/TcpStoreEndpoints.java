package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The TCPStore endpoints of the operator: at most one listener per deployment whose {@code
 * spec.rendezvous.tcpStore.enabled} is true, each on its own operator-side port and serving that
 * deployment's store namespace. The reconciler calls {@link #serve} while the field is enabled and
 * {@link #remove} when it is disabled or the deployment is gone.
 */
public final class TcpStoreEndpoints implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(TcpStoreEndpoints.class.getName());

  private final KeyValueCore core;
  private final TcpStoreLimits limits;
  private final String bindHost;
  private final ListenerPortRange ports;
  private final Map<DeploymentKey, TcpStoreEndpoint> endpoints = new HashMap<>();

  /**
   * @param bindHost the address listeners bind, e.g. {@code 0.0.0.0} in a pod
   * @param ports where {@link #serve} places listeners
   */
  public TcpStoreEndpoints(
      KeyValueCore core, TcpStoreLimits limits, String bindHost, ListenerPortRange ports) {
    this.core = Objects.requireNonNull(core, "core");
    this.limits = Objects.requireNonNull(limits, "limits");
    this.bindHost = Objects.requireNonNull(bindHost, "bindHost");
    this.ports = Objects.requireNonNull(ports, "ports");
  }

  public ListenerPortRange ports() {
    return ports;
  }

  /**
   * Serves the deployment on a port of the range: the one it runs on now, else {@code previousPort}
   * (what its status recorded before an operator restart) when still free, else the lowest free one.
   * A port some other process holds is skipped. Returns the port listened on.
   *
   * @throws IllegalStateException when no port of the range can be bound; the message names the
   *     range and how many deployments hold its ports
   */
  public synchronized int serve(DeploymentKey deployment, Integer previousPort) {
    TcpStoreEndpoint running = endpoints.get(deployment);
    if (running != null && ports.contains(running.port())) {
      return running.port();
    }
    Set<Integer> taken = new HashSet<>();
    endpoints.forEach((other, endpoint) -> {
      if (!other.equals(deployment)) {
        taken.add(endpoint.port());
      }
    });
    for (int port : ports.candidates(previousPort, taken)) {
      try {
        return ensure(deployment, port);
      } catch (UncheckedIOException bindFailed) {
        LOG.log(Level.WARNING, "tcpstore {0}: port {1} is not free ({2}); trying the next",
            new Object[] {deployment, port, bindFailed.getMessage()});
      }
    }
    throw new IllegalStateException(
        "tcpstore "
            + deployment
            + ": no free listener port in "
            + ports
            + " ("
            + taken.size()
            + " held by other deployments); widen elasticmoe.tcpstore.listener-ports");
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
