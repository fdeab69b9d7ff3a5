package io.elasticmoe.worker.cuda;

import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.transport.IdleBackoff;
import io.elasticmoe.worker.transport.UcxTransport;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.openucx.jucx.UcxUtils;

/**
 * The proxy of the CUDA backend's staged (other-node) peers: one thread that owns the {@link UcxTransport}
 * (JUCX is used from one thread), polls the staging mirror's signal words of every staged destination and
 * forwards each published message into the destination's receive mirror ({@link HostMirrors} describes both
 * mirrors). A non-zero word is a published message: a dispatch count ({@link DispatchCountWord}, for the
 * count slots before it; a staged destination's rows are never stored in place), combine {@link DispatchLayout#COMBINE_FLAG_TAG} | {@code span+1} (for the expert's first span
 * token rows). A count and a flag can share a word (one signal region serves both kinds of call), so the tag,
 * not the word's position, says which one it is. Per destination the proxy puts the
 * data, flushes, clears the word and only then puts the word's value to the same signal of the peer.
 *
 * <p>Clearing before the counter goes out is what makes the staging mirror reusable: this rank's kernel
 * writes the same slice again two calls later, which it cannot reach before the peer has received this
 * counter (both kernels wait for every live peer's signals of each call). A destination whose flush fails or
 * passes the timeout gets no counter: its kernel times out and masks this rank, as over a dead link.
 *
 * <p>The rank thread calls {@link #connect}/{@link #disconnect} (run on the proxy thread, waited for) and
 * {@link #close}; nothing else is shared. No CUDA here: the kernels' view of the mirrors is {@link HostMirrors}'s.
 */
final class HostStagingProxy implements AutoCloseable {

  private static final Logger LOG = Logger.getLogger(HostStagingProxy.class.getName());
  private static final VarHandle WORD = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  private final DispatchLayout layout;
  private final int rank;
  private final Duration timeout;
  private final UcxTransport transport;
  private final ByteBuffer staging;
  private final long stagingAddress;
  // Written only on the proxy thread.
  private final boolean[] staged;
  private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private final Thread thread;
  private volatile boolean closing;

  /** A signal word found set in the staging mirror and where its value goes at the destination. */
  private record Published(long mirrorOffset, long remoteOffset, long value) {}

  /**
   * Starts forwarding from {@code staging} (the staging mirror, a direct buffer of the layout's size) through
   * {@code transport}, whose buffer is this rank's receive mirror and whose staging area holds at least both
   * signal regions; {@code timeout} bounds one flush.
   */
  HostStagingProxy(DispatchLayout layout, int rank, Duration timeout, UcxTransport transport, ByteBuffer staging) {
    if (staging.capacity() < layout.totalBytes() || transport.buffer().capacity() < layout.totalBytes()
        || transport.staging().capacity() < DispatchLayout.NUM_BUFFERS * layout.signalRegionBytes()) {
      throw new IllegalArgumentException("host mirrors of " + staging.capacity() + " and " + transport.buffer().capacity()
          + " bytes (counter staging " + transport.staging().capacity() + ") are too small for " + layout);
    }
    this.layout = layout;
    this.rank = rank;
    this.timeout = timeout;
    this.transport = transport;
    this.staging = staging.order(ByteOrder.LITTLE_ENDIAN);
    this.stagingAddress = UcxUtils.getAddress(staging);
    this.staged = new boolean[layout.maxRanks()];
    this.thread = Thread.ofPlatform().daemon().name("host-staging-proxy-" + rank).start(this::run);
  }

  /** What a peer needs to put into this rank's receive mirror (worker address, rkey, base). */
  byte[] localMetadata() {
    return call(transport::localMetadata);
  }

  /** Opens (or keeps, for the same process) an endpoint to {@code peer} and starts forwarding to it. */
  void connect(int peer, byte[] metadata) {
    call(() -> {
      if (!transport.isConnectedTo(peer, metadata)) {
        transport.connect(peer, metadata);
      }
      staged[peer] = true;
      return null;
    });
  }

  /** Stops forwarding to {@code peer}, drops what it had not forwarded and closes the endpoint. */
  void disconnect(int peer) {
    call(() -> {
      staged[peer] = false;
      for (int b = 0; b < DispatchLayout.NUM_BUFFERS; b++) {
        for (int e = 0; e < layout.numLocalExperts(); e++) {
          clear(layout.dispatchCountOffset(b, e, peer));
          clear(layout.combineFlagOffset(b, peer * layout.numLocalExperts() + e));
        }
      }
      transport.disconnect(peer);
      return null;
    });
  }

  private <T> T call(Callable<T> task) {
    if (closing) {
      throw new IllegalStateException("the host staging proxy of rank " + rank + " is closed");
    }
    CompletableFuture<T> result = new CompletableFuture<>();
    tasks.add(() -> {
      try {
        result.complete(task.call());
      } catch (Throwable t) {
        result.completeExceptionally(t);
      }
    });
    try {
      while (true) {
        try {
          return result.get(100, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
          if (!thread.isAlive()) {
            throw new IllegalStateException("the host staging proxy thread of rank " + rank + " has stopped (see its log)");
          }
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the host staging proxy", e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException runtime) {
        throw runtime;
      }
      throw new IllegalStateException("host staging proxy task failed: " + e.getCause(), e.getCause());
    }
  }

  private void run() {
    IdleBackoff backoff = new IdleBackoff();
    while (!closing) {
      boolean busy = false;
      for (Runnable task; (task = tasks.poll()) != null; ) {
        task.run();
        busy = true;
      }
      try {
        busy |= forwardPublished();
        // tcp puts into this rank's receive mirror complete only when this worker progresses.
        transport.progress();
      } catch (RuntimeException e) {
        LOG.log(Level.SEVERE, "host staging proxy of rank " + rank + " failed; staged peers will mask this rank", e);
        return;
      }
      if (busy) {
        backoff = new IdleBackoff();
      } else {
        backoff.idle();
      }
    }
    for (Runnable task; (task = tasks.poll()) != null; ) {
      task.run();
    }
  }

  /** One pass over every staged destination's signal words in both buffers; returns whether any was set. */
  private boolean forwardPublished() {
    Map<Integer, List<Published>> published = new HashMap<>();
    int localExperts = layout.numLocalExperts();
    for (int peer = 0; peer < staged.length; peer++) {
      if (!staged[peer]) {
        continue;
      }
      for (int b = 0; b < DispatchLayout.NUM_BUFFERS; b++) {
        for (int e = 0; e < localExperts; e++) {
          long count = word(layout.dispatchCountOffset(b, e, peer));
          if (count != 0 && (count & DispatchLayout.COMBINE_FLAG_TAG) == 0) {
            long rows = DispatchCountWord.rows(count);
            if (rows > 0) {
              transport.put(peer, stagingAddress + layout.dispatchRecvSlotOffset(b, e, peer, 0),
                  layout.dispatchRecvSlotOffset(b, e, rank, 0), rows * layout.dispatchMessageBytes());
            }
            published.computeIfAbsent(peer, p -> new ArrayList<>()).add(new Published(
                layout.dispatchCountOffset(b, e, peer), layout.dispatchCountOffset(b, e, rank), count));
          }
          int slice = peer * localExperts + e;
          int expert = rank * localExperts + e;
          long flag = word(layout.combineFlagOffset(b, slice));
          if ((flag & DispatchLayout.COMBINE_FLAG_TAG) != 0) {
            long span = (flag & ~DispatchLayout.COMBINE_FLAG_TAG) - 1;
            if (span > 0) {
              transport.put(peer, stagingAddress + layout.combineRecvSlotOffset(b, slice, 0),
                  layout.combineRecvSlotOffset(b, expert, 0), span * layout.combineMessageBytes());
            }
            published.computeIfAbsent(peer, p -> new ArrayList<>()).add(new Published(
                layout.combineFlagOffset(b, slice), layout.combineFlagOffset(b, expert), flag));
          }
        }
      }
    }
    if (published.isEmpty()) {
      return false;
    }
    Set<Integer> incomplete = transport.flush(published.keySet(), System.nanoTime() + timeout.toNanos(), peer -> {
      for (Published signal : published.get(peer)) {
        clear(signal.mirrorOffset());
        // The value stays in the staging area until the put has read it: the slot is reused two calls later.
        transport.staging().putLong(Math.toIntExact(signal.mirrorOffset()), signal.value());
        transport.put(peer, transport.stagingAddress() + signal.mirrorOffset(), signal.remoteOffset(), 8);
      }
    }, () -> {});
    for (int peer : incomplete) {
      // No counter: the peer's kernel times out on this rank. The words are cleared so the slice is reusable.
      for (Published signal : published.get(peer)) {
        clear(signal.mirrorOffset());
      }
    }
    return true;
  }

  /** A signal word of the staging mirror, read with acquire: the rows it counts were written before it. */
  private long word(long offset) {
    return (long) WORD.getAcquire(staging, Math.toIntExact(offset));
  }

  private void clear(long offset) {
    WORD.setRelease(staging, Math.toIntExact(offset), 0L);
  }

  /** Stops the proxy thread; the transport and the mirrors are {@link HostMirrors}'s to free. */
  @Override
  public void close() {
    closing = true;
    try {
      thread.join(Duration.ofSeconds(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
