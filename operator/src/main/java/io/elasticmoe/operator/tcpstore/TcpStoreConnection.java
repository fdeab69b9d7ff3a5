package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.elasticmoe.operator.rendezvous.core.KeyValueException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * One client connection of a {@link TcpStoreEndpoint}: decodes its queries, applies them to the
 * deployment's namespace of {@link KeyValueCore} and queues the replies.
 *
 * <p>Threads: everything runs on the endpoint's selector thread except the completion of a pending
 * {@code wait}, which runs on whichever thread made its keys exist (a gRPC handler, another
 * connection) or timed it out. Replies and the set of pending waits are guarded by {@code this}, so a
 * {@code STOP_WAITING} and a {@code WAIT_CANCELED} are always queued in the order the client expects
 * (PyTorch's client accepts a STOP_WAITING before the WAIT_CANCELED of a wait it cancels, never after).
 *
 * <p>A blocking {@code wait} is a {@code KeyValueCore} waiter, not a parked thread: it costs one
 * future until the write that satisfies it.
 */
final class TcpStoreConnection {
  private static final byte STOP_WAITING = 0;
  private static final byte WAIT_CANCELED = 1;
  private static final byte CHECK_READY = 0;
  private static final byte CHECK_NOT_READY = 1;
  private static final int INITIAL_INPUT_BYTES = 4096;

  private final TcpStoreEndpoint endpoint;
  private final SocketChannel channel;
  private final String peer;
  private final KeyValueCore core;
  private final String storeNamespace;
  private final TcpStoreLimits limits;
  private final TcpStoreFrameDecoder decoder;

  SelectionKey key;
  private ByteBuffer input = ByteBuffer.allocate(INITIAL_INPUT_BYTES);
  private TcpStoreDialect dialect;
  private boolean validated;
  // Selector thread only: when the current partial query started arriving (0 = none).
  private long partialSinceNanos;

  // Guarded by this.
  private final ArrayDeque<ByteBuffer> output = new ArrayDeque<>();
  private long outputBytes;
  private long lastWriteProgressNanos;
  private final List<CompletableFuture<Void>> waits = new ArrayList<>();
  private String closeReason;
  private boolean closed;

  TcpStoreConnection(
      TcpStoreEndpoint endpoint,
      SocketChannel channel,
      String peer,
      KeyValueCore core,
      String storeNamespace,
      TcpStoreLimits limits,
      TcpStoreFrameDecoder decoder) {
    this.endpoint = endpoint;
    this.channel = channel;
    this.peer = peer;
    this.core = core;
    this.storeNamespace = storeNamespace;
    this.limits = limits;
    this.decoder = decoder;
  }

  String peer() {
    return peer;
  }

  TcpStoreDialect dialect() {
    return dialect;
  }

  /** Selector thread: reads what is there and serves every complete query. */
  void onReadable(long nowNanos) throws IOException, TcpStoreProtocolException {
    if (!input.hasRemaining()) {
      growInput();
    }
    int read = channel.read(input);
    if (read < 0) {
      endpoint.close(this, null);
      return;
    }
    input.flip();
    try {
      serveBufferedQueries();
    } finally {
      input.compact();
    }
    partialSinceNanos = input.position() == 0 ? 0 : (partialSinceNanos == 0 ? nowNanos : partialSinceNanos);
    flush(nowNanos);
  }

  private void growInput() throws TcpStoreProtocolException {
    // The decoder caps a frame at maxFrameBytes, so a full buffer of that size always holds a query.
    if (input.capacity() >= limits.maxFrameBytes()) {
      throw new TcpStoreProtocolException(
          "input buffer holds "
              + input.capacity()
              + " bytes of one query; the limit (maxFrameBytes) is "
              + limits.maxFrameBytes());
    }
    ByteBuffer bigger =
        ByteBuffer.allocate((int) Math.min((long) input.capacity() * 2, limits.maxFrameBytes()));
    input.flip();
    bigger.put(input);
    input = bigger;
  }

  private void serveBufferedQueries() throws TcpStoreProtocolException {
    while (!isClosing()) {
      if (dialect == null) {
        dialect = TcpStoreFrameDecoder.detect(input);
        if (dialect == null) {
          return;
        }
      }
      TcpStoreRequest request = decoder.decode(dialect, input);
      if (request == null) {
        return;
      }
      try {
        serve(request);
      } catch (KeyValueException e) {
        // The protocol has no error reply: PyTorch's own server drops the connection here too.
        throw new TcpStoreProtocolException("store refused the query: " + e.getMessage());
      }
    }
  }

  private void serve(TcpStoreRequest request) throws TcpStoreProtocolException {
    if (dialect == TcpStoreDialect.PYTORCH_2 && !validated) {
      if (!(request instanceof TcpStoreRequest.Validate)) {
        throw new TcpStoreProtocolException("a PyTorch 2 client must send VALIDATE first");
      }
    }
    switch (request) {
      case TcpStoreRequest.Validate v -> {
        if (validated || v.magic() != TcpStoreDialect.VALIDATION_MAGIC) {
          throw new TcpStoreProtocolException(
              "VALIDATE with magic 0x"
                  + Integer.toHexString(v.magic())
                  + (validated ? " after validation" : "; expected 0x3c85f7ce"));
        }
        validated = true;
      }
      case TcpStoreRequest.Set s -> core.set(storeNamespace, s.key(), s.value());
      case TcpStoreRequest.CompareSet c ->
          reply(bytes(core.compareSet(storeNamespace, c.key(), c.expected(), c.desired())));
      // Clients wait for the key before GET; a key deleted in between reads as empty, as in PyTorch's
      // libuv server.
      case TcpStoreRequest.Get g ->
          reply(bytes(core.tryGet(storeNamespace, g.key()).orElse(new byte[0])));
      case TcpStoreRequest.Add a -> reply(int64(core.add(storeNamespace, a.key(), a.delta())));
      case TcpStoreRequest.Check c ->
          reply(byte1(core.check(storeNamespace, c.keys()) ? CHECK_READY : CHECK_NOT_READY));
      case TcpStoreRequest.Wait w -> startWait(w.keys());
      case TcpStoreRequest.GetNumKeys n -> reply(int64(core.numKeys(storeNamespace)));
      case TcpStoreRequest.DeleteKey d ->
          reply(int64(core.deleteKey(storeNamespace, d.key()) ? 1 : 0));
      case TcpStoreRequest.Append a -> core.append(storeNamespace, a.key(), a.suffix());
      case TcpStoreRequest.MultiGet m -> reply(multiGet(m.keys()));
      case TcpStoreRequest.MultiSet m -> core.multiSet(storeNamespace, m.keys(), m.values());
      case TcpStoreRequest.CancelWait c -> cancelWaits();
      case TcpStoreRequest.Ping p -> reply(uint32(p.nonce()));
      case TcpStoreRequest.ListKeys l -> reply(keyList(core.keys(storeNamespace)));
    }
  }

  /** An int64 count, then each key as a byte vector; the client drops keys outside its prefix. */
  private static ByteBuffer keyList(List<String> keys) {
    List<byte[]> encoded = new ArrayList<>(keys.size());
    long total = Long.BYTES;
    for (String key : keys) {
      byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
      encoded.add(bytes);
      total += Long.BYTES + bytes.length;
    }
    ByteBuffer reply = ByteBuffer.allocate(Math.toIntExact(total)).order(ByteOrder.LITTLE_ENDIAN);
    reply.putLong(keys.size());
    for (byte[] bytes : encoded) {
      reply.putLong(bytes.length).put(bytes);
    }
    return reply.flip();
  }

  /** Values read at one instant when all keys exist (the usual case: clients wait first). */
  private ByteBuffer multiGet(List<String> keys) {
    CompletableFuture<List<byte[]>> snapshot =
        core.multiGetAsync(storeNamespace, keys, limits.serverWaitTimeout());
    List<byte[]> values;
    if (snapshot.isDone()) {
      values = snapshot.join();
    } else {
      snapshot.cancel(false);
      values = new ArrayList<>(keys.size());
      for (String key : keys) {
        values.add(core.tryGet(storeNamespace, key).orElse(new byte[0]));
      }
    }
    int total = 0;
    for (byte[] value : values) {
      total += Long.BYTES + value.length;
    }
    ByteBuffer reply = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN);
    for (byte[] value : values) {
      reply.putLong(value.length).put(value);
    }
    return reply.flip();
  }

  private void startWait(List<String> keys) throws TcpStoreProtocolException {
    synchronized (this) {
      if (waits.size() >= limits.maxWaitsPerConnection()) {
        throw new TcpStoreProtocolException(
            "pending waits would be "
                + (waits.size() + 1)
                + "; the limit (maxWaitsPerConnection) is "
                + limits.maxWaitsPerConnection());
      }
    }
    CompletableFuture<Void> wait =
        core.waitAsync(storeNamespace, keys, limits.serverWaitTimeout());
    if (wait.isDone() && !wait.isCompletedExceptionally()) {
      reply(byte1(STOP_WAITING));
      return;
    }
    synchronized (this) {
      waits.add(wait);
    }
    // Registered after the add: a wait that completed meanwhile runs this at once, and finds itself.
    wait.whenComplete((ignored, failure) -> onWaitDone(wait, failure));
  }

  private void onWaitDone(CompletableFuture<Void> wait, Throwable failure) {
    synchronized (this) {
      if (!waits.remove(wait)) {
        return; // cancelled by CANCEL_WAIT or by closing: nothing is owed to the client
      }
      Throwable cause = failure instanceof CompletionException ? failure.getCause() : failure;
      if (cause == null) {
        reply(byte1(STOP_WAITING));
      } else if (!(cause instanceof CancellationException)) {
        requestClose("wait ended without its keys: " + cause.getMessage());
        return;
      }
    }
    endpoint.requestFlush(this);
  }

  private void cancelWaits() {
    synchronized (this) {
      List<CompletableFuture<Void>> cancelled = new ArrayList<>(waits);
      waits.clear();
      cancelled.forEach(w -> w.cancel(false));
      reply(byte1(WAIT_CANCELED));
    }
  }

  private synchronized void reply(ByteBuffer bytes) {
    if (closed) {
      return;
    }
    output.add(bytes);
    outputBytes += bytes.remaining();
    if (outputBytes > limits.maxOutboundBytes()) {
      requestClose(
          "unread replies are "
              + outputBytes
              + " bytes; the limit (maxOutboundBytes) is "
              + limits.maxOutboundBytes()
              + " (slow reader)");
    }
  }

  private synchronized void requestClose(String reason) {
    if (closeReason == null) {
      closeReason = reason;
    }
    endpoint.requestFlush(this);
  }

  synchronized boolean isClosing() {
    return closeReason != null || closed;
  }

  synchronized String closeReason() {
    return closeReason;
  }

  /**
   * Selector thread: writes what the socket takes. While replies are unwritten the connection stops
   * reading, so a client that does not read cannot make the server buffer without bound.
   */
  void flush(long nowNanos) throws IOException {
    synchronized (this) {
      if (closed) {
        return;
      }
      while (!output.isEmpty()) {
        ByteBuffer head = output.peek();
        int written = channel.write(head);
        if (written > 0) {
          outputBytes -= written;
          lastWriteProgressNanos = nowNanos;
        }
        if (head.hasRemaining()) {
          break;
        }
        output.poll();
      }
      int wanted = output.isEmpty() ? SelectionKey.OP_READ : SelectionKey.OP_WRITE;
      // Changing interest costs an epoll update at the next select: only do it on a change.
      if (key.interestOps() != wanted) {
        lastWriteProgressNanos = nowNanos;
        key.interestOps(wanted);
      }
    }
  }

  /** Selector thread: the reason to close a connection that has stalled, or null. */
  synchronized String stallReason(long nowNanos) {
    long stallNanos = limits.stallTimeout().toNanos();
    if (!output.isEmpty() && nowNanos - lastWriteProgressNanos > stallNanos) {
      return "client read nothing of "
          + outputBytes
          + " reply bytes for more than "
          + limits.stallTimeout().toMillis()
          + " ms (slow reader)";
    }
    if (partialSinceNanos != 0 && nowNanos - partialSinceNanos > stallNanos) {
      return "client stopped in the middle of a query for more than "
          + limits.stallTimeout().toMillis()
          + " ms (stalled or half-open)";
    }
    return null;
  }

  /** Selector thread, once: withdraws every pending wait from the store. */
  void release() {
    List<CompletableFuture<Void>> pending;
    synchronized (this) {
      closed = true;
      pending = new ArrayList<>(waits);
      waits.clear();
      output.clear();
      outputBytes = 0;
    }
    pending.forEach(w -> w.cancel(false));
  }

  private static ByteBuffer bytes(byte[] value) {
    return ByteBuffer.allocate(Long.BYTES + value.length)
        .order(ByteOrder.LITTLE_ENDIAN)
        .putLong(value.length)
        .put(value)
        .flip();
  }

  private static ByteBuffer int64(long value) {
    return ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(value).flip();
  }

  private static ByteBuffer uint32(int value) {
    return ByteBuffer.allocate(Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN).putInt(value).flip();
  }

  private static ByteBuffer byte1(byte value) {
    return ByteBuffer.allocate(1).put(value).flip();
  }
}
