package io.elasticmoe.worker.transport;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntConsumer;
import org.openucx.jucx.UcxException;
import org.openucx.jucx.ucp.UcpContext;
import org.openucx.jucx.ucp.UcpEndpoint;
import org.openucx.jucx.ucp.UcpEndpointParams;
import org.openucx.jucx.UcxUtils;
import org.openucx.jucx.ucp.UcpMemMapParams;
import org.openucx.jucx.ucp.UcpMemory;
import org.openucx.jucx.ucp.UcpParams;
import org.openucx.jucx.ucp.UcpRemoteKey;
import org.openucx.jucx.ucp.UcpRequest;
import org.openucx.jucx.ucp.UcpWorker;
import org.openucx.jucx.ucp.UcpWorkerParams;

/**
 * Adapter over JUCX: one UCP context per rank with one worker per <em>lane</em>, one symmetric buffer, and
 * per connected peer one endpoint plus unpacked rkey on every lane. It moves bytes and reports which peers
 * failed; it decides nothing about ranks (masking is the backend's policy).
 *
 * <p>Lane 0 is the rank's own: every call except {@link #putOnLane} must come from the rank's thread.
 * The other lanes let compute threads issue data puts side by side ({@link #putOnLane}, one thread per
 * lane at a time); a same-host put is a copy the sender makes, so more lanes copy in parallel. Workers
 * are created without thread safety, which is what makes the put path cheap. Puts are implicit (no
 * request object); {@link #flush} (of every lane, from the rank's thread once the lane threads are done)
 * is the only completion point, which is why the data-before-counter rule is "data puts, flush, counter
 * puts".
 *
 * <p>Where UCX can map a peer's buffer into this process (same host, shared memory), {@link #mappedBuffer}
 * hands it out as a view: the backend then stores into it directly and needs neither puts nor flushes
 * for that peer.
 *
 * <p>Metadata published for peers: worker address, the buffer's packed rkey and its base address.
 */
public final class UcxTransport implements AutoCloseable {

  private final boolean peerErrorHandling;
  private final UcpContext context;
  private final UcpWorker worker;
  private final UcpWorker[] lanes;
  private final ByteBuffer buffer;
  private final UcpMemory memory;
  private final long bufferBytes;
  private final ByteBuffer staging;
  private final UcpMemory stagingMemory;
  private final Map<Integer, Peer> peers = new HashMap<>();
  // Lane threads add to it when a put fails.
  private final Set<Integer> failedPeers = ConcurrentHashMap.newKeySet();
  // Requests towards a dead peer that never complete; UCX 1.13 aborts if the worker is destroyed under them.
  private final List<UcpRequest> abandoned = new ArrayList<>();

  /** Index i of {@code endpoints} and {@code rkeys} is lane i. */
  /** {@code mapped}: the peer's buffer mapped into this process (see {@link #mappedBuffer}), or null. */
  private record Peer(
      UcpEndpoint[] endpoints, UcpRemoteKey[] rkeys, long remoteBase, long remoteBytes, byte[] metadata,
      ByteBuffer mapped) {}

  /** Shared memory between processes of one host; what the CPU backend uses when every rank is local. */
  public static final String HOST_TRANSPORTS = "sm,self";

  /** Shared memory where possible, tcp across hosts and between pods that share no IPC namespace. */
  public static final String NETWORK_TRANSPORTS = "sm,self,tcp";

  /**
   * Registers a zeroed buffer of {@code bufferBytes} (the symmetric EP buffer peers write into) and a
   * source-only staging area of {@code stagingBytes} (values such as counters that must stay unchanged
   * until a flush completes them).
   */
  public UcxTransport(long bufferBytes, int stagingBytes, String transports) {
    this(bufferBytes, stagingBytes, transports, 1);
  }

  /** As {@link #UcxTransport(long, int, String)} with {@code lanes} ≥ 1 workers (lane 0 the rank's own). */
  public UcxTransport(long bufferBytes, int stagingBytes, String transports, int lanes) {
    if (lanes < 1) {
      throw new IllegalArgumentException("lanes is " + lanes + "; at least 1 (the rank's own worker)");
    }
    if (bufferBytes < 1 || bufferBytes > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(
          "buffer is " + bufferBytes + " bytes; the CPU transport maps at most " + (Integer.MAX_VALUE - 8)
              + " bytes (one ByteBuffer); lower maxRanks, numLocalExperts, maxTokensPerRank or hidden");
    }
    // UCX_TLS: UCX 1.13 aborts (wireup_ep.c pending_count assertion) when a peer dies while a tcp
    // wireup is pending, so hosts that need no tcp leave it out.
    // UCX 1.13's shared-memory transports cannot serve endpoints in peer error handling mode
    // ("Destination is unreachable"), so that mode is only asked for where tcp may carry the peer.
    this.peerErrorHandling = transports.contains("tcp");
    // Workers of one context used from several threads need the context's own locking.
    this.context = new UcpContext(
        new UcpParams().requestRmaFeature().setMtWorkersShared(lanes > 1).setConfig("TLS", transports));
    this.lanes = new UcpWorker[lanes];
    for (int lane = 0; lane < lanes; lane++) {
      this.lanes[lane] = context.newWorker(new UcpWorkerParams());
    }
    this.worker = this.lanes[0];
    // UCX allocates the buffer (shared memory when sysv/posix are enabled) so that same-host peers can map
    // it and put with a plain copy. A buffer we allocate and register can only be reached through UCX's
    // active-message emulation of RMA, where every put waits for the target to progress.
    this.bufferBytes = bufferBytes;
    this.memory = context.memoryMap(new UcpMemMapParams().allocate().setLength(bufferBytes));
    this.buffer = UcxUtils.getByteBufferView(memory.getAddress(), bufferBytes).order(ByteOrder.LITTLE_ENDIAN);
    zero(buffer);
    this.staging = ByteBuffer.allocateDirect(Math.max(stagingBytes, 8)).order(ByteOrder.LITTLE_ENDIAN);
    this.stagingMemory = context.registerMemory(staging);
  }

  /** The registered symmetric buffer; peers write into it at the offsets of the shared layout. */
  public ByteBuffer buffer() {
    return buffer;
  }

  public ByteBuffer staging() {
    return staging;
  }

  public long bufferAddress() {
    return memory.getAddress();
  }

  public long stagingAddress() {
    return stagingMemory.getAddress();
  }

  public byte[] localMetadata() {
    ByteBuffer address = worker.getAddress();
    ByteBuffer rkey = memory.getRemoteKeyBuffer();
    ByteBuffer out =
        ByteBuffer.allocate(4 + address.remaining() + 4 + rkey.remaining() + 16)
            .order(ByteOrder.LITTLE_ENDIAN);
    out.putInt(address.remaining()).put(address);
    out.putInt(rkey.remaining()).put(rkey);
    // The usable size, not memory.getLength(): UCX rounds its allocation up to whole pages.
    out.putLong(memory.getAddress()).putLong(bufferBytes);
    return out.array();
  }

  public int lanes() {
    return lanes.length;
  }

  /** Opens an endpoint to {@code rank} on every lane from its published metadata; replaces a previous one. */
  public void connect(int rank, byte[] metadata) {
    disconnect(rank);
    ByteBuffer in = ByteBuffer.wrap(metadata).order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer address = directCopy(in, in.getInt());
    ByteBuffer rkeyBuffer = directCopy(in, in.getInt());
    long remoteBase = in.getLong();
    long remoteBytes = in.getLong();
    UcpEndpoint[] endpoints = new UcpEndpoint[lanes.length];
    UcpRemoteKey[] rkeys = new UcpRemoteKey[lanes.length];
    for (int lane = 0; lane < lanes.length; lane++) {
      UcpEndpointParams params =
          new UcpEndpointParams().setUcpAddress(address).setName("rank-" + rank + "-lane-" + lane);
      if (peerErrorHandling) {
        // Needed so closeNonBlockingForce works and a dead peer fails requests instead of hanging.
        params.setPeerErrorHandlingMode().setErrorHandler((ep, status, message) -> failedPeers.add(rank));
      }
      endpoints[lane] = lanes[lane].newEndpoint(params);
      rkeys[lane] = endpoints[lane].unpackRemoteKey(rkeyBuffer);
    }
    peers.put(rank, new Peer(endpoints, rkeys, remoteBase, remoteBytes, metadata.clone(),
        RemoteKeyPointer.map(rkeys[0], remoteBase, remoteBytes)));
    failedPeers.remove(rank);
  }

  /**
   * Whether this rank already has a working endpoint to the process that published {@code metadata}: the
   * same worker address and buffer, and no error seen on it. A rank that comes back as a new process
   * publishes different metadata.
   */
  public boolean isConnectedTo(int rank, byte[] metadata) {
    Peer peer = peers.get(rank);
    return peer != null && !failedPeers.contains(rank) && Arrays.equals(peer.metadata(), metadata);
  }

  public boolean isConnected(int rank) {
    return peers.containsKey(rank);
  }

  /**
   * {@code rank}'s whole buffer as a view in this process, where UCX maps it here (a peer on this host in
   * shared memory); null where only puts reach it. Writing into the view is writing into the peer's buffer:
   * complete when the store is, ordered like any store of this process (a release store after the data
   * publishes it). Valid until {@link #disconnect} of that rank, which unmaps it: callers drop their
   * references there.
   */
  public ByteBuffer mappedBuffer(int rank) {
    Peer peer = peers.get(rank);
    if (peer == null) {
      throw new IllegalStateException("rank " + rank + " is not connected; connected: " + peers.keySet());
    }
    return peer.mapped();
  }

  public void disconnect(int rank) {
    Peer peer = peers.remove(rank);
    if (peer == null) {
      return;
    }
    for (int lane = 0; lane < lanes.length; lane++) {
      peer.rkeys()[lane].close();
      UcpEndpoint endpoint = peer.endpoints()[lane];
      UcpRequest close = peerErrorHandling ? endpoint.closeNonBlockingForce() : endpoint.closeNonBlockingFlush();
      // A flush-close towards a dead peer may never finish; the endpoint is then abandoned, not waited on.
      if (!progressUntil(close, System.nanoTime() + Duration.ofSeconds(2).toNanos()) && close != null
          && !close.isCompleted()) {
        abandoned.add(close);
      }
    }
  }

  /**
   * Starts a put of {@code bytes} from local address {@code localAddress} (inside the buffer or the
   * staging area) to {@code remoteOffset} in {@code rank}'s buffer. Returns false, without throwing, when
   * the peer's endpoint has failed.
   */
  public boolean put(int rank, long localAddress, long remoteOffset, long bytes) {
    return putOnLane(0, rank, localAddress, remoteOffset, bytes);
  }

  /**
   * {@link #put} on {@code lane}'s worker: from a compute thread that has the lane to itself, while the
   * rank's thread waits for it (connect and disconnect never run meanwhile). {@link #flush} completes it.
   */
  public boolean putOnLane(int lane, int rank, long localAddress, long remoteOffset, long bytes) {
    Peer peer = peers.get(rank);
    if (peer == null) {
      throw new IllegalStateException("rank " + rank + " is not connected; connected: " + peers.keySet());
    }
    if (remoteOffset < 0 || remoteOffset + bytes > peer.remoteBytes()) {
      throw new IllegalArgumentException(
          "put of " + bytes + " bytes at offset " + remoteOffset + " exceeds rank " + rank + "'s buffer of "
              + peer.remoteBytes() + " bytes");
    }
    if (failedPeers.contains(rank)) {
      return false;
    }
    try {
      peer.endpoints()[lane].putNonBlockingImplicit(
          localAddress, bytes, peer.remoteBase() + remoteOffset, peer.rkeys()[lane]);
      return true;
    } catch (UcxException e) {
      failedPeers.add(rank);
      return false;
    }
  }

  /**
   * Completes every put issued so far to {@code ranks}, waiting at most until {@code deadlineNanos}
   * ({@link System#nanoTime()} clock). As each peer's flush completes, {@code onFlushed} runs for it (so
   * that peer's counters can go out without waiting for slower peers); {@code whileWaiting} runs on every
   * idle turn (the backend's liveness beat). Returns the ranks whose puts did not complete: failed or too
   * slow.
   */
  public Set<Integer> flush(
      Iterable<Integer> ranks, long deadlineNanos, IntConsumer onFlushed, Runnable whileWaiting) {
    // Per rank, one flush per lane: a rank is flushed when all of them completed.
    Map<Integer, List<UcpRequest>> pending = new HashMap<>();
    Set<Integer> incomplete = new HashSet<>();
    for (int rank : ranks) {
      Peer peer = peers.get(rank);
      if (peer == null || failedPeers.contains(rank)) {
        incomplete.add(rank);
        continue;
      }
      try {
        List<UcpRequest> requests = new ArrayList<>(lanes.length);
        for (UcpEndpoint endpoint : peer.endpoints()) {
          requests.add(endpoint.flushNonBlocking(null));
        }
        pending.put(rank, requests);
      } catch (UcxException e) {
        failedPeers.add(rank);
        incomplete.add(rank);
      }
    }
    IdleBackoff backoff = new IdleBackoff();
    while (!pending.isEmpty()) {
      for (var it = pending.entrySet().iterator(); it.hasNext(); ) {
        var entry = it.next();
        if (entry.getValue().stream().allMatch(UcpRequest::isCompleted)) {
          it.remove();
          if (entry.getValue().stream().allMatch(request -> request.getStatus() == 0)
              && !failedPeers.contains(entry.getKey())) {
            onFlushed.accept(entry.getKey());
          } else {
            incomplete.add(entry.getKey());
          }
        }
      }
      if (pending.isEmpty()) {
        break;
      }
      if (System.nanoTime() > deadlineNanos) {
        incomplete.addAll(pending.keySet());
        pending.values().forEach(requests -> requests.stream().filter(r -> !r.isCompleted()).forEach(abandoned::add));
        break;
      }
      whileWaiting.run();
      progress();
      // Shared-memory puts complete only when the peer progresses: let it run.
      backoff.idle();
    }
    return incomplete;
  }

  public Set<Integer> flush(Iterable<Integer> ranks, long deadlineNanos) {
    return flush(ranks, deadlineNanos, rank -> {}, () -> {});
  }

  /**
   * Drives every lane's worker once: required for tcp peers, whose puts are completed by the target's
   * progress (the lanes' endpoints go to the peer's lane-0 worker).
   */
  public void progress() {
    try {
      for (UcpWorker lane : lanes) {
        lane.progress();
      }
    } catch (Exception e) {
      throw new IllegalStateException("UCX worker progress failed: " + e.getMessage(), e);
    }
  }

  public Set<Integer> failedPeers() {
    return Set.copyOf(failedPeers);
  }

  private boolean progressUntil(UcpRequest request, long deadlineNanos) {
    while (request != null && !request.isCompleted()) {
      if (System.nanoTime() > deadlineNanos) {
        return false;
      }
      progress();
    }
    return request == null || request.getStatus() == 0;
  }

  /** UCX's allocation comes from shared memory, mmap or the heap; only the first two are known zeroed. */
  private static void zero(ByteBuffer buffer) {
    byte[] zeros = new byte[1 << 20];
    for (int at = 0; at < buffer.capacity(); at += zeros.length) {
      buffer.put(at, zeros, 0, Math.min(zeros.length, buffer.capacity() - at));
    }
  }

  private static ByteBuffer directCopy(ByteBuffer in, int length) {
    ByteBuffer out = ByteBuffer.allocateDirect(length);
    ByteBuffer slice = in.slice(in.position(), length);
    out.put(slice).flip();
    in.position(in.position() + length);
    return out;
  }

  /** Address of a position inside the registered buffer, for {@link #put}. */
  public long addressOf(long bufferOffset) {
    return bufferAddress() + bufferOffset;
  }

  @Override
  public void close() {
    for (int rank : List.copyOf(peers.keySet())) {
      disconnect(rank);
    }
    abandoned.removeIf(UcpRequest::isCompleted);
    if (!abandoned.isEmpty()) {
      // ucp_worker_destroy asserts that no request is outstanding; the process is about to drop this
      // transport, so the memory is left to process exit instead of aborting the JVM.
      return;
    }
    stagingMemory.deregister();
    memory.deregister();
    for (UcpWorker lane : lanes) {
      lane.close();
    }
    context.close();
  }
}
