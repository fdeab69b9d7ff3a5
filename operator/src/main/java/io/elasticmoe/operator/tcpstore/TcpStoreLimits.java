package io.elasticmoe.operator.tcpstore;

import java.time.Duration;

/**
 * Limits of one TCPStore endpoint, on top of the store's own {@code KeyValueLimits} (key, value and
 * keys-per-call sizes, which the frame decoder enforces, and the per-deployment quotas).
 *
 * @param maxConnections open connections per endpoint; a connection beyond it is closed at accept
 * @param maxFrameBytes largest query; bounds the input buffer of a connection
 * @param maxOutboundBytes replies queued for a connection that does not read them (slow reader)
 * @param maxWaitsPerConnection pending {@code wait}s of one connection (a 1.13 client leaves one
 *     behind at every timed-out wait, as against PyTorch's own server)
 * @param stallTimeout how long a connection may sit in the middle of a query, or with replies it
 *     does not read, before it is closed (half-open and slow peers). An idle connection between
 *     queries is legitimate and is kept; dead idle peers are found by TCP keepalive
 * @param serverWaitTimeout the server-side bound of a blocking {@code wait}; TCPStore clients time
 *     out on their own side and cancel, so this only reaps waits of clients that never do
 */
public record TcpStoreLimits(
    int maxConnections,
    int maxFrameBytes,
    long maxOutboundBytes,
    int maxWaitsPerConnection,
    Duration stallTimeout,
    Duration serverWaitTimeout) {

  /** 1024 connections, 8 MiB queries, 64 MiB of unread replies, 64 waits, 30 s stalls, 24 h waits. */
  public static final TcpStoreLimits DEFAULTS =
      new TcpStoreLimits(
          1024, 8 << 20, 64L << 20, 64, Duration.ofSeconds(30), Duration.ofHours(24));

  public TcpStoreLimits {
    requirePositive("maxConnections", maxConnections);
    requirePositive("maxFrameBytes", maxFrameBytes);
    requirePositive("maxOutboundBytes", maxOutboundBytes);
    requirePositive("maxWaitsPerConnection", maxWaitsPerConnection);
    requirePositive("stallTimeout ms", stallTimeout.toMillis());
    requirePositive("serverWaitTimeout ms", serverWaitTimeout.toMillis());
  }

  private static void requirePositive(String name, long value) {
    if (value <= 0) {
      throw new IllegalArgumentException(name + " is " + value + "; it must be at least 1");
    }
  }
}
