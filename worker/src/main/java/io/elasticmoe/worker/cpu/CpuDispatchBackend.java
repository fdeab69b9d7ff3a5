package io.elasticmoe.worker.cpu;

import io.elasticmoe.worker.runtime.DispatchBackend;
import io.elasticmoe.worker.runtime.DispatchHandle;
import io.elasticmoe.worker.runtime.DispatchInputCheck;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.DispatchResult;
import io.elasticmoe.worker.runtime.Fp8Codec;
import io.elasticmoe.worker.runtime.PeerTimeoutException;
import io.elasticmoe.worker.store.KeyValueStore;
import io.elasticmoe.worker.store.StoreTimeoutException;
import io.elasticmoe.worker.transport.IdleBackoff;
import io.elasticmoe.worker.transport.UcxTransport;
import java.lang.foreign.Arena;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntConsumer;

/**
 * The reference backend: the {@link DispatchLayout} buffer lives off-heap in a direct ByteBuffer
 * registered with UCX, every peer (this host: sysv/posix/cma shared memory; across hosts: tcp) is written
 * with RMA puts. The calling thread does every UCX call and wait; the casting, the row copies and the
 * reduction are spread over a {@link ComputePool} of the backend's own.
 *
 * <p>Ordering per call, for every destination: clear the next buffer's signals; write all data; flush
 * (UCX's completion point, so data lands before anything after it); write the counters or flags; flush.
 * A receiver therefore sees a counter only after the rows it counts. A wait that passes the timeout masks
 * the silent rank and queues a {@link PeerTimeoutException}; a flush that fails or times out does the same.
 * "Silent" means neither the awaited signal nor the peer's liveness word moved for the timeout: a rank that
 * waits advances its word on every live peer, so a survivor held up by a dead rank (and therefore late
 * with its own signals) is not masked by the ranks waiting on it. A wait still ends after
 * {@link #MAX_WAIT_TIMEOUTS} timeouts even if the peer looks alive, so two live ranks waiting on each other
 * (a step mismatch) mask each other instead of hanging.
 * Not thread-safe: one thread per rank drives it, as UCX's worker is single-threaded here.
 */
public final class CpuDispatchBackend implements DispatchBackend {

  private static final VarHandle LONGS =
      MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final String KEY_PREFIX = "NIXL_EP/";

  /**
   * The longest a wait lasts, in timeouts, however alive the peer looks. A live peer is late by at most
   * the time it spends detecting dead ranks (one timeout in its flush, one in its waits: a dead rank is
   * skipped once masked), so three leaves a timeout of margin.
   */
  static final int MAX_WAIT_TIMEOUTS = 3;

  // Every kind of memory session is loaded before any of this class's loops is compiled. C2 inlines a
  // buffer's or segment's liveness check for the session classes loaded so far; the first peer mapped through
  // ucp_rkey_ptr (RemoteKeyPointer) loaded the confined, shared and implicit kinds, which threw away the
  // compiled reduction and copies (-Xlog:dependencies: "dependee = jdk.internal.foreign.SharedSession") and ran
  // them interpreted again: the slow first thousand-odd steps of docs/dataplane.md's "Cold JIT".
  static {
    Arena.ofConfined().close();
    Arena.ofShared().close();
    Arena.ofAuto();
  }

  private final DispatchLayout layout;
  private final int rank;
  private final KeyValueStore store;
  private final Duration timeout;
  private final Duration storeTimeout;
  private final UcxTransport transport;
  private final ByteBuffer buffer;
  private final ShortBuffer shorts;
  private final FloatBuffer floats;
  private final ByteBuffer staging;
  private final boolean[] connected;
  /**
   * Per rank, its buffer as a view in this process where one exists: our own, and peers that UCX maps here
   * (same host, shared memory; UcxTransport#mappedBuffer). Rows and signals for those are stored straight
   * into it; the others are put. Null where only puts reach the rank.
   */
  private final ByteBuffer[] rankBuffers;
  private final int[] mask;
  private final long livenessStagingOffset;
  private final long livenessIntervalNanos;
  private final long[] livenessSeen;
  private final long[] lastHeardNanos;
  private long livenessCount;
  private long lastLivenessNanos;
  private final List<PeerTimeoutException> peerTimeouts = new ArrayList<>();
  private final ExecutorService storeCalls =
      Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon().name("ep-store-call").factory());
  private final ComputePool compute;
  /** Stateless, so one serves every compute thread. */
  private final CombineReducer reducer;
  /** Issues the data puts: the compute pool when every thread has its own lane, else the rank's thread alone. */
  private final ComputePool putThreads;
  private final RangePuts[] putsOfRange;
  private final PhaseTimes phaseTimes = new PhaseTimes();
  private long epoch;
  private String previousDoneKey;
  private int bufferIdx;

  /**
   * What one compute range's puts did, per peer: written to (so it needs a flush) or failed (so it is
   * masked). The rank's thread reads it once the range is done; only it masks.
   */
  private static final class RangePuts {
    private final boolean[] written;
    private final boolean[] failed;

    RangePuts(int maxRanks) {
      this.written = new boolean[maxRanks];
      this.failed = new boolean[maxRanks];
    }

    void clear() {
      Arrays.fill(written, false);
      Arrays.fill(failed, false);
    }
  }

  /**
   * As {@link #CpuDispatchBackend(DispatchLayout, int, KeyValueStore, Duration, Duration, String, int)} with
   * {@link ComputePool#defaultThreads} compute threads: with {@link UcxTransport#HOST_TRANSPORTS} every
   * rank of the layout may share this host, so the processors are split {@code maxRanks} ways; with a
   * network transport (a rank per pod) this rank takes every processor its container may use.
   */
  public CpuDispatchBackend(
      DispatchLayout layout,
      int rank,
      KeyValueStore store,
      Duration timeout,
      Duration storeTimeout,
      String transports) {
    this(layout, rank, store, timeout, storeTimeout, transports,
        ComputePool.defaultThreads(transports.equals(UcxTransport.HOST_TRANSPORTS) ? layout.maxRanks() : 1));
  }

  /**
   * {@code timeout} bounds every data-plane wait (a silent peer is masked after it); {@code storeTimeout}
   * bounds the metadata exchange and barrier of {@link #connect}, where peers may still be starting;
   * {@code transports} is the UCX_TLS list ({@link UcxTransport#HOST_TRANSPORTS} when all ranks share a host);
   * {@code computeThreads} (≥ 1, the calling thread included) share the cast, the row copies and the
   * combine reduction.
   */
  public CpuDispatchBackend(
      DispatchLayout layout,
      int rank,
      KeyValueStore store,
      Duration timeout,
      Duration storeTimeout,
      String transports,
      int computeThreads) {
    if (rank < 0 || rank >= layout.maxRanks()) {
      throw new IllegalArgumentException(
          "rank is " + rank + "; it must be in 0.." + (layout.maxRanks() - 1) + " (maxRanks)");
    }
    this.layout = layout;
    this.rank = rank;
    this.store = store;
    this.timeout = timeout;
    this.storeTimeout = storeTimeout;
    // Staging holds the values being put: per buffer, E dispatch counts then E combine flags; then the
    // liveness count.
    this.livenessStagingOffset = (long) DispatchLayout.NUM_BUFFERS * 2 * layout.numExperts() * 8;
    // Same-host puts are copies the sender makes: one UCX lane per compute thread spreads them like the
    // compute. Over tcp the target does the work, and extra lanes' endpoints timed out in the 4-rank test
    // (a peer masked after 30 s), so tcp keeps the puts on the rank's thread and worker.
    boolean putLanes = computeThreads > 1 && !transports.contains("tcp");
    this.transport = new UcxTransport(
        layout.totalBytes(), (int) livenessStagingOffset + 8, transports, putLanes ? computeThreads : 1);
    // Often enough that a waiter sees several advances per timeout, rarely enough to cost nothing.
    this.livenessIntervalNanos = Math.max(timeout.toNanos() / 10, 1_000_000L);
    this.livenessSeen = new long[layout.maxRanks()];
    this.lastHeardNanos = new long[layout.maxRanks()];
    this.buffer = transport.buffer();
    this.shorts = buffer.asShortBuffer();
    this.floats = buffer.asFloatBuffer();
    this.staging = transport.staging();
    this.connected = new boolean[layout.maxRanks()];
    this.mask = new int[layout.maxRanks()];
    connected[rank] = true;
    this.rankBuffers = new ByteBuffer[layout.maxRanks()];
    rankBuffers[rank] = buffer;
    this.compute = new ComputePool(computeThreads);
    this.reducer = new CombineReducer(layout.hidden(), buffer);
    this.putThreads = putLanes ? compute : new ComputePool(1);
    this.putsOfRange = new RangePuts[computeThreads];
    for (int range = 0; range < computeThreads; range++) {
      putsOfRange[range] = new RangePuts(layout.maxRanks());
    }
  }

  @Override
  public DispatchLayout layout() {
    return layout;
  }

  @Override
  public int rank() {
    return rank;
  }

  @Override
  public void connect(long epoch, int[] ranks, int[] world, boolean activate)
      throws StoreTimeoutException {
    for (int peer : ranks) {
      DispatchInputCheck.rank(layout, "ranks", peer);
    }
    this.epoch = epoch;
    String ownKey = KEY_PREFIX + rank;
    store.set(ownKey, transport.localMetadata());
    for (int peer : ranks) {
      if (peer == rank) {
        continue;
      }
      // The same live process keeps its endpoint: closing it would break the peer's endpoint to us, which
      // the peer (not knowing we reconnect) would keep using and then mask us.
      byte[] metadata = progressingWhile(() -> store.get(KEY_PREFIX + peer, storeTimeout));
      if (!transport.isConnectedTo(peer, metadata)) {
        transport.connect(peer, metadata);
        rankBuffers[peer] = transport.mappedBuffer(peer);
      }
      connected[peer] = true;
      mask[peer] = activate ? 0 : 1;
    }
    // Connect is two-sided: nobody may delete its key before every rank of the step has read it.
    progressingWhile(() -> {
      store.barrier(KEY_PREFIX + "barrier/connect/" + epoch, world.length, storeTimeout);
      return null;
    });
    store.deleteKey(ownKey);
  }

  /**
   * Over tcp a peer's last flush completes only when this rank acknowledges it, and closing an endpoint
   * fails the peer's side of it: without this wait the ranks of a world that switched or drained masked
   * each other at its last step (EpochSwitchTest over tcp, and the local-cluster demo).
   */
  @Override
  public void finishWorld(String worldId) {
    String prefix = KEY_PREFIX + "done/" + worldId + "/";
    store.set(prefix + rank, new byte[] {1});
    List<String> keys = new ArrayList<>();
    for (int peer = 0; peer < layout.maxRanks(); peer++) {
      if (peer != rank && live(peer)) {
        keys.add(prefix + peer);
      }
    }
    try {
      progressingWhile(() -> {
        store.await(keys, timeout);
        return null;
      });
    } catch (StoreTimeoutException e) {
      // A peer that did not finish within the timeout is dead or has masked us; the next world's connect
      // or the membership deals with it.
    }
    // Every rank that waits on the previous world's key has long passed it (it stepped through this world).
    if (previousDoneKey != null) {
      store.deleteKey(previousDoneKey);
    }
    previousDoneKey = prefix + rank;
  }

  private interface StoreCall<T> {
    T call() throws StoreTimeoutException;
  }

  /**
   * Runs a blocking store call on another thread while this one keeps the UCX worker progressing and the
   * liveness word moving. Over tcp a peer's flush completes only when this rank acknowledges its last puts,
   * so a rank that went straight from its last step into a long store wait (an epoch switch waiting for
   * joiners) left the peers still flushing to it until their timeout, and they masked it (seen in every
   * local-cluster demo run before this).
   */
  private <T> T progressingWhile(StoreCall<T> call) throws StoreTimeoutException {
    Future<T> result = storeCalls.submit(call::call);
    IdleBackoff backoff = new IdleBackoff();
    while (!result.isDone()) {
      transport.progress();
      keepAlive();
      backoff.idle();
    }
    try {
      return result.get();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof StoreTimeoutException timeout) {
        throw timeout;
      }
      throw e.getCause() instanceof RuntimeException runtime ? runtime : new IllegalStateException(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      result.cancel(true);
      throw new IllegalStateException("interrupted while waiting for the store", e);
    }
  }

  @Override
  public void disconnect(int[] ranks) {
    for (int peer : ranks) {
      DispatchInputCheck.rank(layout, "ranks", peer);
      if (peer == rank) {
        continue;
      }
      // Dropped first: disconnecting unmaps the peer's buffer.
      rankBuffers[peer] = null;
      transport.disconnect(peer);
      connected[peer] = false;
      mask[peer] = 0;
    }
  }

  @Override
  public void updateMask(int rank, boolean masked) {
    DispatchInputCheck.rank(layout, "rank", rank);
    mask[rank] = masked ? 1 : 0;
  }

  @Override
  public int[] queryMask() {
    return mask.clone();
  }

  @Override
  public void cleanMask() {
    Arrays.fill(mask, 0);
  }

  @Override
  public List<PeerTimeoutException> takePeerTimeouts() {
    List<PeerTimeoutException> taken = List.copyOf(peerTimeouts);
    peerTimeouts.clear();
    return taken;
  }

  private boolean live(int peer) {
    return connected[peer] && mask[peer] == 0;
  }

  @Override
  public DispatchResult dispatch(
      short[] x, int numTokens, int[] topkIdx, int numTopk, int numExperts, boolean useFp8,
      boolean roundScale) {
    DispatchInputCheck.dispatch(layout, x, numTokens, topkIdx, numTopk, numExperts, useFp8, roundScale);
    long startNanos = startCall();
    long deadline = startNanos + timeout.toNanos();
    int b = flipBuffer();
    int hidden = layout.hidden();
    int numScales = layout.numScales();
    int numLocalExperts = layout.numLocalExperts();
    int numRanks = numExperts / numLocalExperts;
    long messageBytes = DispatchLayout.DISPATCH_HEADER_BYTES + (useFp8 ? hidden + 4L * numScales : 2L * hidden);

    // Slots are taken in token order (the receiver's rows follow it), before any thread casts.
    int[] expertCount = new int[numExperts];
    int[] slotOf = new int[numTokens * numTopk];
    for (int i = 0; i < slotOf.length; i++) {
      int expert = topkIdx[i];
      slotOf[i] = expert < 0 || !live(expert / numLocalExperts) ? -1 : expertCount[expert]++;
    }
    // Cast every token once into its send slot (absolute bulk puts into disjoint slots: safe from several
    // threads, as the buffer's position is never touched), then write each token to recv[e_l][rank][slot]
    // of every selected expert's owner. A range writes its own tokens right after casting them, in the same
    // hand-off to the compute threads: a copy into a mapped owner's buffer from any thread, a put where the
    // range has its own lane. Without lanes the rank's thread puts to the other owners afterwards.
    boolean putInCastPass = putThreads == compute;
    phaseTimes.start();
    compute.forRanges(numTokens, 1, (range, from, to) -> {
      Fp8Codec.RowCaster caster = useFp8 ? new Fp8Codec.RowCaster(hidden) : null;
      byte[] fp8Row = new byte[hidden];
      float[] scaleRow = new float[numScales];
      for (int t = from; t < to; t++) {
        int slot = (int) layout.dispatchSendSlotOffset(b, t);
        buffer.putInt(slot, t);
        int payload = slot + DispatchLayout.DISPATCH_HEADER_BYTES;
        if (useFp8) {
          caster.castRow(x, t * hidden, roundScale, fp8Row, 0, scaleRow, 0);
          buffer.put(payload, fp8Row);
          floats.put((payload + hidden) / 4, scaleRow);
        } else {
          shorts.put(payload / 2, x, t * hidden, hidden);
        }
      }
      putRange(b, range, from, to, topkIdx, numTopk, slotOf, messageBytes, true, putInCastPass);
    });
    phaseTimes.end(PhaseTimes.Phase.DISPATCH_CAST);
    if (!putInCastPass) {
      putThreads.forRanges(numTokens, 1,
          (range, from, to) -> putRange(b, range, from, to, topkIdx, numTopk, slotOf, messageBytes, false, true));
    }
    Set<Integer> destinations = destinationsOfPuts(numTokens);
    phaseTimes.end(PhaseTimes.Phase.DISPATCH_PUTS);
    // Counters after data: as soon as a destination's puts are flushed, count+1 goes into
    // recv_count[e_l·maxRanks + rank] of that owner; a slow owner does not hold back the others.
    Set<Integer> signalled = new TreeSet<>();
    IntConsumer publishCounts = owner -> {
      for (int localExpert = 0; localExpert < numLocalExperts; localExpert++) {
        int expert = owner * numLocalExperts + localExpert;
        int stagingOffset = (b * 2 * layout.numExperts() + expert) * 8;
        staging.putLong(stagingOffset, expertCount[expert] + 1L);
        signal(owner, stagingOffset, layout.dispatchCountOffset(b, localExpert, rank), signalled);
      }
    };
    for (int owner = 0; owner < numRanks; owner++) {
      if (live(owner) && !destinations.contains(owner)) {
        publishCounts.accept(owner);
      }
    }
    maskIncomplete(transport.flush(destinations, deadline, publishCounts, this::keepAlive), startNanos);
    maskFailed(transport.flush(signalled, deadline, owner -> {}, this::keepAlive), startNanos);
    phaseTimes.end(PhaseTimes.Phase.DISPATCH_FLUSH_SIGNAL);

    // Wait for every live source, then read with the final mask so counts only cover unmasked ranks. Each
    // source's headers (the source token of each row: cache misses on lines a peer just wrote) are read as
    // soon as its counter is seen, while later sources may still be writing.
    long[] counts = new long[numLocalExperts * numRanks];
    int[][] tokensOfSource = new int[numLocalExperts * numRanks][];
    for (int localExpert = 0; localExpert < numLocalExperts; localExpert++) {
      for (int src = 0; src < numRanks; src++) {
        if (live(src)) {
          int i = localExpert * numRanks + src;
          counts[i] = awaitSignal(layout.dispatchCountOffset(b, localExpert, src), src) - 1;
          tokensOfSource[i] = new int[(int) Math.max(0, counts[i])];
          for (int slot = 0; slot < tokensOfSource[i].length; slot++) {
            tokensOfSource[i][slot] = buffer.getInt((int) layout.dispatchRecvSlotOffset(b, localExpert, src, slot));
          }
        }
      }
    }
    phaseTimes.end(PhaseTimes.Phase.DISPATCH_WAIT);
    DispatchResult result = readReceived(b, numRanks, numTokens, useFp8, counts, tokensOfSource);
    phaseTimes.end(PhaseTimes.Phase.DISPATCH_RESULT);
    return result;
  }

  /**
   * The tokens {@code [from, to)} of compute range {@code range} to the owners whose buffer is mapped here
   * ({@code mapped}) and/or to the others, on the range's lane ({@code unmapped}).
   */
  private void putRange(
      int b, int range, int from, int to, int[] topkIdx, int numTopk, int[] slotOf, long messageBytes,
      boolean mapped, boolean unmapped) {
    RangePuts puts = putsOfRange[range];
    puts.clear();
    for (int t = from; t < to; t++) {
      putToken(b, range, t, topkIdx, numTopk, slotOf, messageBytes, mapped, unmapped, puts);
    }
  }

  /** Token {@code t}'s send slot to every selected expert's owner, at the slot {@code slotOf} numbered. */
  private void putToken(
      int b, int range, int t, int[] topkIdx, int numTopk, int[] slotOf, long messageBytes,
      boolean mapped, boolean unmapped, RangePuts puts) {
    int numLocalExperts = layout.numLocalExperts();
    long source = layout.dispatchSendSlotOffset(b, t);
    for (int k = 0; k < numTopk; k++) {
      int slot = slotOf[t * numTopk + k];
      if (slot < 0) {
        continue;
      }
      int expert = topkIdx[t * numTopk + k];
      int owner = expert / numLocalExperts;
      if (rankBuffers[owner] != null ? mapped : unmapped) {
        long target = layout.dispatchRecvSlotOffset(b, expert % numLocalExperts, rank, slot);
        write(range, owner, source, target, messageBytes, puts);
      }
    }
  }

  /**
   * The result as views into the receive region: per packed row the offset of its message, and the source
   * token from the message header (what combine returns the row to), read while waiting
   * ({@code tokensOfSource}, per local expert and source, by slot). Nothing is read from the buffer here.
   */
  private DispatchResult readReceived(
      int b, int numRanks, int numTokens, boolean useFp8, long[] counts, int[][] tokensOfSource) {
    int numLocalExperts = layout.numLocalExperts();
    int rowsPerExpert = numRanks * layout.maxTokensPerRank();
    int[] recvCount = new int[numLocalExperts];
    int[] srcInfo = new int[numLocalExperts * rowsPerExpert];
    int[] messageOffset = new int[numLocalExperts * rowsPerExpert];
    Arrays.fill(messageOffset, -1);
    long[] layoutRange = new long[numLocalExperts * numRanks];
    for (int localExpert = 0; localExpert < numLocalExperts; localExpert++) {
      int begin = 0;
      for (int src = 0; src < numRanks; src++) {
        int count = live(src) ? (int) counts[localExpert * numRanks + src] : 0;
        layoutRange[localExpert * numRanks + src] = (long) count | ((long) begin << 32);
        begin += count;
      }
      recvCount[localExpert] = begin;
    }
    for (int localExpert = 0; localExpert < numLocalExperts; localExpert++) {
      for (int src = 0; src < numRanks; src++) {
        long countAndBegin = layoutRange[localExpert * numRanks + src];
        int count = (int) countAndBegin;
        int row = localExpert * rowsPerExpert + (int) (countAndBegin >>> 32);
        if (count > 0) {
          System.arraycopy(tokensOfSource[localExpert * numRanks + src], 0, srcInfo, row, count);
        }
        for (int i = 0; i < count; i++) {
          messageOffset[row + i] = (int) layout.dispatchRecvSlotOffset(b, localExpert, src, i);
        }
      }
    }
    DispatchHandle handle =
        new DispatchHandle(numRanks, layout.maxTokensPerRank(), layout.hidden(), numTokens, srcInfo, layoutRange);
    return new DispatchResult(
        new ReceiveBufferRows(buffer, shorts, floats, messageOffset, layout.hidden(), useFp8), recvCount, handle);
  }

  @Override
  public short[] combine(short[] y, int[] topkIdx, float[] topkWeights, DispatchHandle handle) {
    DispatchInputCheck.combine(layout, y, topkIdx, topkWeights, handle);
    long startNanos = startCall();
    long deadline = startNanos + timeout.toNanos();
    int b = flipBuffer();
    int numLocalExperts = layout.numLocalExperts();
    int numRanks = handle.numRanks();
    int numExperts = numRanks * numLocalExperts;

    // Every row goes to recv[global expert][source token] of the rank it came from: copied straight from y
    // into a mapped buffer (ours included), else staged into its send slot and put: with put lanes in the
    // same pass (the staged row still in this core's cache), otherwise by the rank's thread afterwards.
    boolean putInStagePass = putThreads == compute;
    phaseTimes.start();
    compute.forRanges(numLocalExperts, 1, (range, fromExpert, toExpert) ->
        returnRows(b, range, fromExpert, toExpert, y, handle, true, putInStagePass));
    phaseTimes.end(PhaseTimes.Phase.COMBINE_STAGE);
    if (!putInStagePass) {
      putThreads.forRanges(numLocalExperts, 1, (range, fromExpert, toExpert) ->
          returnRows(b, range, fromExpert, toExpert, y, handle, false, true));
    }
    Set<Integer> destinations = destinationsOfPuts(numLocalExperts);
    phaseTimes.end(PhaseTimes.Phase.COMBINE_PUTS);
    // One flag per (local expert, source rank), once that source's rows are flushed.
    Set<Integer> signalled = new TreeSet<>();
    IntConsumer publishFlags = src -> {
      for (int localExpert = 0; localExpert < numLocalExperts; localExpert++) {
        int stagingOffset =
            (b * 2 * layout.numExperts() + layout.numExperts() + localExpert * layout.maxRanks() + src) * 8;
        staging.putLong(stagingOffset, 1L);
        signal(src, stagingOffset, layout.combineFlagOffset(b, rank * numLocalExperts + localExpert), signalled);
      }
    };
    for (int src = 0; src < numRanks; src++) {
      if (live(src) && !destinations.contains(src)) {
        publishFlags.accept(src);
      }
    }
    maskIncomplete(transport.flush(destinations, deadline, publishFlags, this::keepAlive), startNanos);
    maskFailed(transport.flush(signalled, deadline, src -> {}, this::keepAlive), startNanos);
    phaseTimes.end(PhaseTimes.Phase.COMBINE_FLUSH_SIGNAL);

    for (int expert = 0; expert < numExperts; expert++) {
      int owner = expert / numLocalExperts;
      if (live(owner)) {
        awaitSignal(layout.combineFlagOffset(b, expert), owner);
      }
    }
    phaseTimes.end(PhaseTimes.Phase.COMBINE_WAIT);
    short[] out = reduce(b, topkIdx, topkWeights, handle.numTokens());
    phaseTimes.end(PhaseTimes.Phase.COMBINE_REDUCE);
    return out;
  }

  /**
   * The rows local experts {@code [fromExpert, toExpert)} return to live sources, on compute range
   * {@code range}: into a mapped source buffer directly (in the {@code stage} pass), else staged into its
   * send slot and/or put (on the range's lane) to its source token.
   */
  private void returnRows(
      int b, int range, int fromExpert, int toExpert, short[] y, DispatchHandle handle, boolean stage, boolean put) {
    int hidden = layout.hidden();
    int rowsPerExpert = handle.rowsPerExpert();
    int[] srcInfo = handle.srcInfo();
    RangePuts puts = putsOfRange[range];
    if (put) {
      puts.clear();
    }
    for (int localExpert = fromExpert; localExpert < toExpert; localExpert++) {
      for (int src = 0; src < handle.numRanks(); src++) {
        if (!live(src)) {
          continue;
        }
        int begin = handle.begin(localExpert, src);
        if (rankBuffers[src] != null) {
          if (stage) {
            ShortBuffer mapped = rankBuffers[src].asShortBuffer();
            int expert = rank * layout.numLocalExperts() + localExpert;
            for (int row = begin; row < begin + handle.count(localExpert, src); row++) {
              int target = (int) layout.combineRecvSlotOffset(b, expert, srcInfo[localExpert * rowsPerExpert + row]);
              mapped.put(target / 2, y, (localExpert * rowsPerExpert + row) * hidden, hidden);
            }
          }
          continue;
        }
        for (int row = begin; row < begin + handle.count(localExpert, src); row++) {
          if (stage) {
            int slot = (int) layout.combineSendSlotOffset(b, localExpert, row);
            shorts.put(slot / 2, y, (localExpert * rowsPerExpert + row) * hidden, hidden);
          }
          if (put) {
            putCombineRow(b, range, localExpert, src, row, srcInfo[localExpert * rowsPerExpert + row], puts);
          }
        }
      }
    }
  }

  /** A staged combine row of {@code localExpert} back to {@code src}, into the slot of its source token. */
  private void putCombineRow(int b, int range, int localExpert, int src, int row, int token, RangePuts puts) {
    long slot = layout.combineSendSlotOffset(b, localExpert, row);
    long target = layout.combineRecvSlotOffset(b, rank * layout.numLocalExperts() + localExpert, token);
    write(range, src, slot, target, 2L * layout.hidden(), puts);
  }

  private short[] reduce(int b, int[] topkIdx, float[] topkWeights, int numTokens) {
    int hidden = layout.hidden();
    int numLocalExperts = layout.numLocalExperts();
    int numTopk = numTokens == 0 ? 0 : topkIdx.length / numTokens;
    short[] out = new short[numTokens * hidden];
    // The mask is read here, on the rank's thread: the compute threads only see the copy.
    boolean[] liveOwner = new boolean[layout.maxRanks()];
    for (int owner = 0; owner < liveOwner.length; owner++) {
      liveOwner[owner] = live(owner);
    }
    compute.forRanges(numTokens, 1, (range, from, to) -> {
      int[] rowOffsets = new int[numTopk];
      float[] weights = new float[numTopk];
      for (int t = from; t < to; t++) {
        int numRows = 0;
        for (int k = 0; k < numTopk; k++) {
          int expert = topkIdx[t * numTopk + k];
          // Dropped experts contribute nothing and the remaining weights are not renormalised (NIXL-EP).
          if (expert < 0 || !liveOwner[expert / numLocalExperts]) {
            continue;
          }
          rowOffsets[numRows] = (int) layout.combineRecvSlotOffset(b, expert, t);
          weights[numRows++] = topkWeights[t * numTopk + k];
        }
        reducer.reduceToken(rowOffsets, weights, numRows, out, t * hidden);
      }
    });
    return out;
  }

  /** Flips the buffer index and clears the next buffer's signals before this call emits any. */
  private int flipBuffer() {
    int b = bufferIdx;
    bufferIdx ^= 1;
    int next = (int) layout.signalOffset(bufferIdx);
    for (int i = 0; i < layout.signalRegionBytes(); i += DispatchLayout.SIGNAL_BYTES) {
      LONGS.setVolatile(buffer, next + i, 0L);
    }
    // The clear must be visible before any of this call's puts make a peer move on to the next buffer.
    VarHandle.fullFence();
    return b;
  }

  /** From compute range {@code range} (on its own lane): one message to {@code owner}, or a local copy. */
  private void write(int range, int owner, long sourceOffset, long targetOffset, long bytes, RangePuts puts) {
    ByteBuffer mapped = rankBuffers[owner];
    if (mapped != null) {
      mapped.put((int) targetOffset, buffer, (int) sourceOffset, (int) bytes);
    } else if (transport.putOnLane(range, owner, transport.addressOf(sourceOffset), targetOffset, bytes)) {
      puts.written[owner] = true;
    } else {
      puts.failed[owner] = true;
    }
  }

  /**
   * After a parallel put phase over {@code n} items: masks the peers a put failed to, and returns those
   * written to, which the flush must complete. Only the ranges that ran are read.
   */
  private Set<Integer> destinationsOfPuts(int n) {
    Set<Integer> destinations = new TreeSet<>();
    for (int range = 0; range < putThreads.rangesFor(n, 1); range++) {
      RangePuts puts = putsOfRange[range];
      for (int peer = 0; peer < layout.maxRanks(); peer++) {
        if (puts.failed[peer]) {
          maskPeer(peer, 0);
        }
        if (puts.written[peer]) {
          destinations.add(peer);
        }
      }
    }
    return destinations;
  }

  /**
   * One counter or flag to {@code owner}: a volatile store into a mapped buffer (after the rows, which the
   * compute threads stored before handing back: the owner that reads it sees them), else a put whose flush
   * follows the rows' flush.
   */
  private void signal(int owner, int stagingOffset, long targetOffset, Set<Integer> signalled) {
    ByteBuffer mapped = rankBuffers[owner];
    if (mapped != null) {
      LONGS.setVolatile(mapped, (int) targetOffset, staging.getLong(stagingOffset));
      return;
    }
    if (transport.put(owner, transport.stagingAddress() + stagingOffset, targetOffset, 8)) {
      signalled.add(owner);
    } else {
      maskPeer(owner, 0);
    }
  }

  /**
   * Waits for a signal from {@code src}; masks it once it has been silent (no signal, no liveness advance)
   * for the timeout, or after {@link #MAX_WAIT_TIMEOUTS} timeouts in any case.
   */
  private long awaitSignal(long offset, int src) {
    long startNanos = System.nanoTime();
    long timeoutNanos = timeout.toNanos();
    IdleBackoff backoff = new IdleBackoff();
    while (true) {
      long value = (long) LONGS.getVolatile(buffer, (int) offset);
      if (value != 0) {
        return value;
      }
      if (!live(src)) {
        return 0;
      }
      long now = System.nanoTime();
      observeLiveness(now);
      if (now - lastHeardNanos[src] > timeoutNanos || now - startNanos > MAX_WAIT_TIMEOUTS * timeoutNanos) {
        maskPeer(src, Math.max(now - lastHeardNanos[src], now - startNanos) / 1_000_000);
        return 0;
      }
      keepAlive();
      transport.progress();
      backoff.idle();
    }
  }

  /** Starts a dispatch or combine: every live peer counts as heard from now. */
  private long startCall() {
    long now = System.nanoTime();
    Arrays.fill(lastHeardNanos, now);
    return now;
  }

  /** Notes which peers' liveness words moved since last looked at. */
  private void observeLiveness(long now) {
    for (int peer = 0; peer < layout.maxRanks(); peer++) {
      if (peer != rank && live(peer)) {
        long word = (long) LONGS.getVolatile(buffer, (int) layout.livenessWordOffset(peer));
        if (word != livenessSeen[peer]) {
          livenessSeen[peer] = word;
          lastHeardNanos[peer] = now;
        }
      }
    }
  }

  /**
   * While this rank waits, advances its liveness word on every live peer (at most once per interval).
   * The puts are left to complete with the next flush or progress: a later value overtaking an earlier
   * one is harmless, since receivers only look for change.
   */
  private void keepAlive() {
    long now = System.nanoTime();
    if (now - lastLivenessNanos < livenessIntervalNanos) {
      return;
    }
    lastLivenessNanos = now;
    staging.putLong((int) livenessStagingOffset, ++livenessCount);
    for (int peer = 0; peer < layout.maxRanks(); peer++) {
      if (peer == rank || !live(peer)) {
        continue;
      }
      if (rankBuffers[peer] != null) {
        LONGS.setVolatile(rankBuffers[peer], (int) layout.livenessWordOffset(rank), livenessCount);
      } else if (!transport.put(peer, transport.stagingAddress() + livenessStagingOffset,
          layout.livenessWordOffset(rank), 8)) {
        maskPeer(peer, 0);
      }
    }
  }

  /**
   * After the counter or flag puts: only a peer whose endpoint failed is masked. One that did not
   * acknowledge in time got its signal (its next call needs it, and a dead peer is caught by the next
   * wait's silence); over tcp the acknowledgement waits for the target's progress, and a rank that has
   * just finished its last step of a world (leaving, or waiting for the next world's joiners) may not
   * progress for a while — masking it for that was a false positive on every drain in the tcp plan test.
   */
  private void maskFailed(Set<Integer> incomplete, long startNanos) {
    Set<Integer> failed = transport.failedPeers();
    for (int peer : incomplete) {
      if (failed.contains(peer)) {
        maskPeer(peer, (System.nanoTime() - startNanos) / 1_000_000);
      }
    }
  }

  private void maskIncomplete(Set<Integer> incomplete, long startNanos) {
    for (int peer : incomplete) {
      maskPeer(peer, (System.nanoTime() - startNanos) / 1_000_000);
    }
  }

  private void maskPeer(int peer, long waitedMillis) {
    if (mask[peer] == 0) {
      mask[peer] = 1;
      peerTimeouts.add(new PeerTimeoutException(peer, epoch, waitedMillis));
    }
  }

  /** Time per phase since the last {@link PhaseTimes#reset}: the benchmark's breakdown. */
  public PhaseTimes phaseTimes() {
    return phaseTimes;
  }

  @Override
  public void close() {
    storeCalls.shutdownNow();
    compute.close();
    putThreads.close();
    transport.close();
  }
}
