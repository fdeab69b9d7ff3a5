package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.net.SocketOption;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.net.ExtendedSocketOptions;

/**
 * A TCP listener that speaks PyTorch's {@code TCPStore} protocol (see {@link TcpStoreDialect}) for one
 * deployment's store namespace in {@link KeyValueCore}, so values and blocking waits are shared with
 * the gRPC {@code StoreService}.
 *
 * <p>One selector thread serves every connection, as PyTorch's own servers do; store operations are
 * short and never block it (a {@code wait} is a store waiter, completed by the satisfying write).
 *
 * <p>Robustness: a connection that sends bytes that are not a served query, exceeds a limit, stalls in
 * the middle of a query, or does not read its replies is closed with one log line naming the peer and
 * the reason; its pending waits are withdrawn from the store. Nothing one connection does reaches
 * another connection or the gRPC side. The protocol has no authentication: reachability is the only
 * guard (the per-deployment NetworkPolicy of {@code TcpStoreResources}).
 */
public final class TcpStoreEndpoint implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(TcpStoreEndpoint.class.getName());

  /**
   * After serving traffic the selector thread polls without blocking for this long before it sleeps in
   * select: TCPStore clients are ping-pong (one query, wait, next query), and waking a thread blocked in
   * epoll costs about as much as serving the query. Costs CPU only while clients are active.
   */
  static final long BUSY_POLL_NANOS = TimeUnit.MICROSECONDS.toNanos(50);
  private static final long STALL_CHECK_INTERVAL_MS = 1000;

  private final String label;
  private final String storeNamespace;
  private final KeyValueCore core;
  private final TcpStoreLimits limits;
  private final TcpStoreFrameDecoder decoder;
  private final ServerSocketChannel server;
  private final Selector selector;
  private final Thread thread;
  private final ConcurrentLinkedQueue<TcpStoreConnection> flushRequests =
      new ConcurrentLinkedQueue<>();
  // Selector thread only.
  private final Set<TcpStoreConnection> connections = new HashSet<>();
  private final AtomicInteger openConnections = new AtomicInteger();
  private final CountDownLatch stopped = new CountDownLatch(1);
  private volatile boolean closing;

  private TcpStoreEndpoint(
      String label,
      String storeNamespace,
      KeyValueCore core,
      TcpStoreLimits limits,
      ServerSocketChannel server,
      Selector selector) {
    this.label = label;
    this.storeNamespace = storeNamespace;
    this.core = core;
    this.limits = limits;
    this.decoder = new TcpStoreFrameDecoder(core.limits(), limits.maxFrameBytes());
    this.server = server;
    this.selector = selector;
    this.thread = Thread.ofPlatform().daemon().name("tcpstore-" + label).unstarted(this::run);
  }

  /**
   * Listens on {@code bind} (port 0 picks a free port) and serves {@code storeNamespace}.
   *
   * @param label names the endpoint in logs and its thread, e.g. the deployment {@code ns/name}
   */
  public static TcpStoreEndpoint start(
      String label,
      String storeNamespace,
      InetSocketAddress bind,
      KeyValueCore core,
      TcpStoreLimits limits) {
    ServerSocketChannel server = null;
    try {
      server = ServerSocketChannel.open();
      server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      server.bind(bind, limits.maxConnections());
      server.configureBlocking(false);
      Selector selector = Selector.open();
      server.register(selector, SelectionKey.OP_ACCEPT);
      TcpStoreEndpoint endpoint =
          new TcpStoreEndpoint(label, storeNamespace, core, limits, server, selector);
      endpoint.thread.start();
      LOG.log(Level.INFO, "tcpstore {0}: listening on {1}", label, server.getLocalAddress());
      return endpoint;
    } catch (IOException e) {
      if (server != null) {
        try {
          server.close();
        } catch (IOException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      throw new UncheckedIOException(
          "tcpstore " + label + " cannot listen on " + bind + ": " + e.getMessage(), e);
    }
  }

  public int port() {
    return server.socket().getLocalPort();
  }

  public String storeNamespace() {
    return storeNamespace;
  }

  /** Connections open right now. */
  public int openConnections() {
    return openConnections.get();
  }

  /** Stops listening, closes every connection (withdrawing its waits) and waits for the thread. */
  @Override
  public void close() {
    closing = true;
    selector.wakeup();
    try {
      if (!stopped.await(10, TimeUnit.SECONDS)) {
        LOG.log(Level.WARNING, "tcpstore {0}: selector thread did not stop within 10 s", label);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  void requestFlush(TcpStoreConnection connection) {
    flushRequests.add(connection);
    selector.wakeup();
  }

  private void run() {
    long nextStallCheck = System.nanoTime();
    long pollUntil = nextStallCheck;
    try {
      while (!closing) {
        if (System.nanoTime() - pollUntil < 0) {
          if (selector.selectNow() == 0 && flushRequests.isEmpty()) {
            Thread.onSpinWait();
            continue;
          }
        } else {
          selector.select(STALL_CHECK_INTERVAL_MS);
        }
        long now = System.nanoTime();
        if (!selector.selectedKeys().isEmpty()) {
          pollUntil = now + BUSY_POLL_NANOS;
        }
        for (SelectionKey key : selector.selectedKeys()) {
          if (key.isValid() && key.isAcceptable()) {
            accept();
          } else if (key.attachment() instanceof TcpStoreConnection connection) {
            serve(connection, key, now);
          }
        }
        selector.selectedKeys().clear();
        TcpStoreConnection flushed;
        while ((flushed = flushRequests.poll()) != null) {
          serve(flushed, null, now);
        }
        if (now - nextStallCheck >= 0) {
          closeStalled(now);
          nextStallCheck = now + TimeUnit.MILLISECONDS.toNanos(STALL_CHECK_INTERVAL_MS);
        }
      }
    } catch (IOException | ClosedSelectorException e) {
      LOG.log(Level.ERROR, "tcpstore " + label + ": selector failed; endpoint stops", e);
    } finally {
      shutdown();
      stopped.countDown();
    }
  }

  private void accept() throws IOException {
    SocketChannel channel;
    while ((channel = server.accept()) != null) {
      String peer = String.valueOf(channel.getRemoteAddress());
      if (connections.size() >= limits.maxConnections()) {
        LOG.log(
            Level.WARNING,
            "tcpstore {0}: refused connection from {1}: open connections would be {2}; the limit"
                + " (maxConnections) is {3}",
            label,
            peer,
            connections.size() + 1,
            limits.maxConnections());
        channel.close();
        continue;
      }
      TcpStoreConnection connection =
          new TcpStoreConnection(this, channel, peer, core, storeNamespace, limits, decoder);
      try {
        channel.configureBlocking(false);
        configure(channel);
        connection.key = channel.register(selector, SelectionKey.OP_READ, connection);
      } catch (IOException e) {
        // One connection that cannot be set up is dropped; the listener carries on.
        LOG.log(Level.WARNING, "tcpstore {0}: dropped connection from {1}: {2}", label, peer, e);
        channel.close();
        continue;
      }
      connections.add(connection);
      openConnections.incrementAndGet();
      LOG.log(Level.DEBUG, "tcpstore {0}: connection from {1}", label, peer);
    }
  }

  private void configure(SocketChannel channel) throws IOException {
    channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
    // Idle connections are legitimate (clients keep them for the whole job); keepalive finds dead
    // peers among them within about two minutes.
    channel.setOption(StandardSocketOptions.SO_KEEPALIVE, true);
    setIfSupported(channel, ExtendedSocketOptions.TCP_KEEPIDLE, 60);
    setIfSupported(channel, ExtendedSocketOptions.TCP_KEEPINTERVAL, 10);
    setIfSupported(channel, ExtendedSocketOptions.TCP_KEEPCOUNT, 6);
  }

  /** Keepalive tuning is best effort: some kernels and sandboxes refuse it, and defaults still work. */
  private <T> void setIfSupported(SocketChannel channel, SocketOption<T> option, T value) {
    try {
      if (channel.supportedOptions().contains(option)) {
        channel.setOption(option, value);
      }
    } catch (IOException | UnsupportedOperationException e) {
      LOG.log(Level.DEBUG, "tcpstore {0}: {1} not set: {2}", label, option, e);
    }
  }

  /** Reads, writes or closes one connection, whichever is due; a failure closes only it. */
  private void serve(TcpStoreConnection connection, SelectionKey key, long now) {
    if (!connections.contains(connection)) {
      return;
    }
    try {
      if (connection.closeReason() != null) {
        close(connection, connection.closeReason());
        return;
      }
      if (key != null && key.isValid() && key.isReadable()) {
        connection.onReadable(now);
      } else {
        connection.flush(now);
      }
      if (connection.closeReason() != null) {
        close(connection, connection.closeReason());
      }
    } catch (TcpStoreProtocolException e) {
      close(connection, e.getMessage());
    } catch (IOException e) {
      close(connection, "I/O error: " + e.getMessage());
    } catch (RuntimeException e) {
      LOG.log(Level.ERROR, "tcpstore " + label + ": unexpected failure serving " + connection.peer(), e);
      close(connection, "internal error: " + e);
    }
  }

  /** Closes one connection; {@code reason} null means the client closed it. */
  void close(TcpStoreConnection connection, String reason) {
    if (!connections.remove(connection)) {
      return;
    }
    openConnections.decrementAndGet();
    connection.release();
    connection.key.cancel();
    try {
      connection.key.channel().close();
    } catch (IOException e) {
      LOG.log(Level.DEBUG, "tcpstore {0}: closing {1}: {2}", label, connection.peer(), e);
    }
    if (reason == null) {
      LOG.log(Level.DEBUG, "tcpstore {0}: {1} disconnected", label, connection.peer());
    } else {
      LOG.log(
          Level.WARNING,
          "tcpstore {0}: closed connection from {1} ({2} client): {3}",
          label,
          connection.peer(),
          connection.dialect() == null ? "unidentified" : connection.dialect(),
          reason);
    }
  }

  private void closeStalled(long now) {
    for (TcpStoreConnection connection : List.copyOf(connections)) {
      String reason = connection.stallReason(now);
      if (reason != null) {
        close(connection, reason);
      }
    }
  }

  private void shutdown() {
    for (TcpStoreConnection connection : List.copyOf(connections)) {
      connections.remove(connection);
      openConnections.decrementAndGet();
      connection.release();
      try {
        connection.key.channel().close();
      } catch (IOException e) {
        LOG.log(Level.DEBUG, "tcpstore {0}: closing {1}: {2}", label, connection.peer(), e);
      }
    }
    try {
      server.close();
      selector.close();
    } catch (IOException e) {
      LOG.log(Level.WARNING, "tcpstore {0}: closing the listener: {1}", label, e);
    }
    LOG.log(Level.INFO, "tcpstore {0}: stopped", label);
  }
}
