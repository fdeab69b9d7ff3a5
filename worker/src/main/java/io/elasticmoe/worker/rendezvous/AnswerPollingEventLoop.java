package io.elasticmoe.worker.rendezvous;

import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.SelectStrategy;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollSocketChannel;
import io.grpc.netty.shaded.io.netty.util.IntSupplier;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import java.util.concurrent.TimeUnit;

/**
 * The rendezvous channel's transport thread (one epoll event loop), which polls its socket instead of
 * sleeping in {@code epoll_wait} while a store answer is due.
 *
 * <p>A sleeping transport thread costs two wake-ups per store operation: the caller's write is handed
 * to it through an eventfd, and the answer's arrival wakes it again; each is a scheduler round trip of
 * microseconds to tens of microseconds on an idle host. While an answer is expected (the store's
 * callers announce it, only when answers have lately come fast: {@link StoreSessionCall#spinNanos()}),
 * the loop polls instead, and keeps polling a little past the answer so that back-to-back operations
 * find it awake. Otherwise it sleeps as Netty's loop always does; the watch stream and heartbeats never
 * make it poll.
 */
final class AnswerPollingEventLoop implements SelectStrategy {
  /** Polling continues this long past an expected answer, to catch the caller's next operation. */
  static final long LINGER_NANOS = 50_000;

  private final EventLoopGroup group;
  private volatile long pollUntil = System.nanoTime();

  /** Whether Netty's native epoll transport loads here (Linux); without it there is no polling loop. */
  static boolean available() {
    return Epoll.isAvailable();
  }

  AnswerPollingEventLoop() {
    this.group = new EpollEventLoopGroup(1, new DefaultThreadFactory("rendezvous-transport", true), () -> this);
  }

  /** Makes {@code builder}'s channel run on this loop. */
  NettyChannelBuilder configure(NettyChannelBuilder builder) {
    return builder.eventLoopGroup(group).channelType(EpollSocketChannel.class);
  }

  /** An answer is expected within {@code nanos}: poll until then, and {@link #LINGER_NANOS} longer. */
  void expectAnswerWithin(long nanos) {
    pollUntil = System.nanoTime() + nanos + LINGER_NANOS;
  }

  @Override
  public int calculateStrategy(IntSupplier selectNow, boolean hasTasks) throws Exception {
    if (hasTasks) {
      return selectNow.get();
    }
    return System.nanoTime() - pollUntil < 0 ? SelectStrategy.BUSY_WAIT : SelectStrategy.SELECT;
  }

  /** Stops the loop; call after the channel on it has shut down. */
  void shutdown() {
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
  }
}
