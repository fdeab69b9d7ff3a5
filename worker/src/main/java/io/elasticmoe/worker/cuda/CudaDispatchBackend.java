package io.elasticmoe.worker.cuda;

import io.elasticmoe.worker.runtime.DispatchBackend;
import io.elasticmoe.worker.runtime.DispatchHandle;
import io.elasticmoe.worker.runtime.DispatchInputCheck;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.DispatchResult;
import io.elasticmoe.worker.runtime.PeerTimeoutException;
import io.elasticmoe.worker.store.KeyValueStore;
import io.elasticmoe.worker.store.StoreTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntToLongFunction;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * The GPU backend: the {@link DispatchLayout} buffer and the dispatch outputs (packed recv_x, recv_scales and
 * src_info of both buffer indices, with the exchange through which senders learn where their rows land) live
 * in device memory (one cuMemAlloc each, never reallocated, so device pointers and a captured CUDA graph stay
 * valid across connect/disconnect); same-host peers map both through CUDA IPC and the kernels of
 * {@code kernels/} store into them directly, rows in place where they can. Peers on
 * other hosts are staged: the kernels write their messages into pinned host memory that a
 * {@link HostStagingProxy} thread forwards with UCX puts, and read theirs from a host receive mirror. Per
 * peer the kernels get three table entries (write base, slice index, read base); connect and disconnect
 * rewrite entries only, never an allocation.
 *
 * <p>Per call: flip the buffer index; clear the next buffer's signals and dispatch exchange so that the clear
 * completes before this call emits anything there (dispatch: its kernel, before its grid barrier; combine: a
 * memset ordered on the stream before the kernel); launch. Peers store into this rank's outputs of the
 * dispatch's buffer index at times its stream does not order (after its exchange of that call), which is why
 * the outputs exist once per buffer index and why results are read from the index the dispatch used. Kernels
 * read {@code mask} (1 = not live: masked or disconnected) on every send and wait, and set it when a peer stays
 * silent past the timeout;
 * the host reads it back after each synchronous call, latches the timeout in its own mask and queues a
 * {@link PeerTimeoutException}. The Java-array API of {@link DispatchBackend} copies inputs in and results out;
 * {@link #launchDispatch}/{@link #launchCombine} run on device-resident inputs without synchronising (bench).
 * Not thread-safe: one thread per rank drives it.
 */
public final class CudaDispatchBackend implements DispatchBackend {

  /** Which peers go through host staging instead of CUDA IPC. */
  public enum PeerStaging {
    /** No host mirrors: every peer must be on this host (a peer elsewhere is refused at connect). */
    OFF,
    /** Peers on another host (another boot id) are staged; same-host peers use CUDA IPC. */
    OTHER_HOSTS,
    /**
     * Every peer is staged, as if on another host: tests the staged path on one machine. Published with the
     * metadata, so the peer stages its side of the pair too.
     */
    ALL_PEERS
  }

  /** Longest data-plane timeout (configs.cuh NUM_MAX_TIMEOUT_MILLIS). */
  public static final long MAX_TIMEOUT_MILLIS = 60_000;

  private static final String KEY_PREFIX = "NIXL_EP/";

  private final DispatchLayout layout;
  private final int rank;
  private final KeyValueStore store;
  private final Duration timeout;
  private final Duration storeTimeout;
  private final CUdevice device = new CUdevice();
  private final CUcontext context = new CUcontext();
  private final CUstream stream = new CUstream();
  private final KernelLibrary kernels;
  private final CudaIpcTransport ipc;
  private final List<DeviceArray> allocations = new ArrayList<>();
  private final DeviceArray buffer;
  private final DeviceArray outputs;
  private final DeviceArray peerBases;
  private final DeviceArray peerOutputs;
  private final DeviceArray expertPlan;
  private final DeviceArray peerSlices;
  private final DeviceArray recvBases;
  private final DeviceArray deviceMask;
  private final DeviceArray expertCount;
  private final DeviceArray entrySlot;
  private final DeviceArray expertDone;
  private final DeviceArray gridBarrier;
  private final DeviceArray x;
  private final DeviceArray topkIdx;
  private final DeviceArray topkWeights;
  private final DeviceArray recvCount;
  private final DeviceArray layoutRange;
  private final DeviceArray handleSrcInfo;
  private final DeviceArray y;
  private final DeviceArray combined;
  private final PeerStaging staging;
  private final HostMirrors mirrors;
  private final HostStagingProxy proxy;
  private final long[] peerAddress;
  private final long[] peerOutput;
  private final long[] peerSlice;
  private final long[] recvBase;
  private final boolean[] staged;
  private final CUdeviceptr[][] mappings;
  private final byte[][] mappedMetadata;
  private final boolean[] connected;
  private final int[] mask;
  private final List<PeerTimeoutException> peerTimeouts = new ArrayList<>();
  private long epoch;
  private int bufferIdx;
  private int dispatchBufferIdx;

  /** A backend for same-host peers only ({@link PeerStaging#OFF}). */
  public CudaDispatchBackend(
      DispatchLayout layout, int rank, int deviceOrdinal, KeyValueStore store, Duration timeout,
      Duration storeTimeout) {
    this(layout, rank, deviceOrdinal, store, timeout, storeTimeout, PeerStaging.OFF, null);
  }

  /**
   * Binds this rank to GPU {@code deviceOrdinal} (its primary context) and allocates everything once.
   * {@code timeout} bounds every kernel wait on a peer; {@code storeTimeout} bounds {@link #connect}. Unless
   * {@code staging} is OFF, both host mirrors and the proxy's UCX worker (UCX_TLS {@code transports}) are
   * created here too.
   */
  public CudaDispatchBackend(
      DispatchLayout layout, int rank, int deviceOrdinal, KeyValueStore store, Duration timeout,
      Duration storeTimeout, PeerStaging staging, String transports) {
    if (rank < 0 || rank >= layout.maxRanks()) {
      throw new IllegalArgumentException(
          "rank is " + rank + "; it must be in 0.." + (layout.maxRanks() - 1) + " (maxRanks)");
    }
    if (!GpuProbe.available()) {
      throw new IllegalStateException("the cuda backend needs a GPU: " + GpuProbe.reason());
    }
    if (deviceOrdinal < 0 || deviceOrdinal >= GpuProbe.deviceCount()) {
      throw new IllegalArgumentException(
          "deviceOrdinal is " + deviceOrdinal + "; this host has " + GpuProbe.deviceCount() + " CUDA device(s)");
    }
    KernelLibrary.checkHidden(layout.hidden());
    if (layout.maxRanks() > KernelLibrary.MAX_SOURCE_RANKS) {
      throw new IllegalArgumentException(
          "maxRanks is " + layout.maxRanks() + "; the kernels support at most " + KernelLibrary.MAX_SOURCE_RANKS
              + " (NUM_MAX_SOURCE_RANKS)");
    }
    if (timeout.isNegative() || timeout.isZero() || timeout.toMillis() > MAX_TIMEOUT_MILLIS) {
      throw new IllegalArgumentException(
          "timeout is " + timeout + "; it must be in 1 ms.." + MAX_TIMEOUT_MILLIS + " ms (NUM_MAX_TIMEOUT_MILLIS)");
    }
    this.layout = layout;
    this.rank = rank;
    this.store = store;
    this.timeout = timeout;
    this.storeTimeout = storeTimeout;
    CudaException.check(JCudaDriver.cuDeviceGet(device, deviceOrdinal), "cuDeviceGet(" + deviceOrdinal + ")");
    CudaException.check(JCudaDriver.cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
    makeCurrent();
    CudaException.check(JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    int[] multiprocessors = new int[1];
    CudaException.check(
        JCudaDriver.cuDeviceGetAttribute(
            multiprocessors, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
        "cuDeviceGetAttribute(MULTIPROCESSOR_COUNT)");
    this.kernels = KernelLibrary.load(multiprocessors[0]);

    int maxRanks = layout.maxRanks();
    long numLocalExperts = layout.numLocalExperts();
    long maxTokens = layout.maxTokensPerRank();
    long hidden = layout.hidden();
    long maxRows = numLocalExperts * maxRanks * maxTokens;
    this.buffer = allocate(layout.totalBytes(), "buffer");
    this.outputs = allocate(layout.outputsTotalBytes(), "dispatch outputs");
    this.peerBases = allocate(8L * maxRanks, "peer_bases");
    this.peerOutputs = allocate(8L * maxRanks, "peer_outputs");
    this.expertPlan = allocate(4L * layout.numExperts(), "expert_plan");
    this.peerSlices = allocate(8L * maxRanks, "peer_slices");
    this.recvBases = allocate(8L * maxRanks, "recv_bases");
    this.deviceMask = allocate(4L * maxRanks, "mask");
    this.expertCount = allocate(4L * layout.numExperts(), "expert_count");
    this.entrySlot = allocate(4L * maxTokens * DispatchLayout.MAX_TOPK, "entry_slot");
    this.expertDone = allocate(4L * layout.numExperts(), "expert_done");
    this.gridBarrier = allocate(8, "grid_barrier");
    this.x = allocate(2 * maxTokens * hidden, "x");
    this.topkIdx = allocate(4 * maxTokens * DispatchLayout.MAX_TOPK, "topk_idx");
    this.topkWeights = allocate(4 * maxTokens * DispatchLayout.MAX_TOPK, "topk_weights");
    this.recvCount = allocate(4 * numLocalExperts, "recv_count");
    this.layoutRange = allocate(8 * numLocalExperts * maxRanks, "layout_range");
    this.handleSrcInfo = allocate(4 * maxRows, "src_info of a handle to combine");
    this.y = allocate(2 * maxRows * hidden, "y");
    this.combined = allocate(2 * maxTokens * hidden, "combined");
    // Signals and the exchange start at zero: a receiver treats any non-zero word as published.
    CudaException.check(JCudaDriver.cuMemsetD8(buffer.pointer(), (byte) 0, layout.totalBytes()), "cuMemsetD8(buffer)");
    CudaException.check(
        JCudaDriver.cuMemsetD8(outputs.pointer(), (byte) 0, layout.outputsTotalBytes()), "cuMemsetD8(dispatch outputs)");
    CudaException.check(JCudaDriver.cuMemsetD8(gridBarrier.pointer(), (byte) 0, 8), "cuMemsetD8(grid_barrier)");

    this.ipc = new CudaIpcTransport(buffer.pointer(), outputs.pointer());
    this.staging = staging;
    this.mirrors = staging == PeerStaging.OFF ? null : new HostMirrors(layout, transports);
    this.proxy = mirrors == null ? null
        : new HostStagingProxy(layout, rank, timeout, mirrors.transport(), mirrors.staging());
    this.peerAddress = new long[maxRanks];
    this.peerOutput = new long[maxRanks];
    this.peerSlice = new long[maxRanks];
    this.recvBase = new long[maxRanks];
    this.staged = new boolean[maxRanks];
    this.mappings = new CUdeviceptr[maxRanks][];
    this.mappedMetadata = new byte[maxRanks][];
    this.connected = new boolean[maxRanks];
    this.mask = new int[maxRanks];
    peerAddress[rank] = buffer.address();
    peerOutput[rank] = outputs.address();
    Arrays.fill(peerSlice, rank);
    Arrays.fill(recvBase, buffer.address());
    connected[rank] = true;
    uploadPeers();
  }

  private DeviceArray allocate(long bytes, String what) {
    DeviceArray array = DeviceArray.allocate(bytes, what);
    allocations.add(array);
    return array;
  }

  private void makeCurrent() {
    CudaException.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
  }

  @Override
  public DispatchLayout layout() {
    return layout;
  }

  @Override
  public int rank() {
    return rank;
  }

  public KernelLibrary kernels() {
    return kernels;
  }

  public CUstream stream() {
    return stream;
  }

  /** Whether {@code peer} is reached through host staging (connected as another host's rank). */
  public boolean isStaged(int peer) {
    return staged[peer];
  }

  /** Where this rank writes {@code peer}'s messages (IPC mapping, own buffer, staging mirror), 0 when unconnected. */
  public long peerAddress(int peer) {
    return peerAddress[peer];
  }

  public long bufferAddress() {
    return buffer.address();
  }

  @Override
  public void connect(long epoch, int[] ranks, int[] world, boolean activate) throws StoreTimeoutException {
    for (int peer : ranks) {
      DispatchInputCheck.rank(layout, "ranks", peer);
    }
    makeCurrent();
    this.epoch = epoch;
    String ownKey = KEY_PREFIX + rank;
    store.set(ownKey, new PeerMetadata(ipc.localMetadata(), staging == PeerStaging.ALL_PEERS,
        proxy == null ? new byte[0] : proxy.localMetadata()).encode());
    for (int peer : ranks) {
      if (peer == rank) {
        continue;
      }
      PeerMetadata metadata = PeerMetadata.decode(store.get(KEY_PREFIX + peer, storeTimeout));
      if (stagesPeer(metadata)) {
        connectStaged(peer, metadata);
      } else {
        connectMapped(peer, metadata.ipc());
      }
      connected[peer] = true;
      mask[peer] = activate ? 0 : 1;
    }
    uploadPeers();
    // Connect is two-sided: nobody may delete its key before every rank of the step has read it.
    store.barrier(KEY_PREFIX + "barrier/connect/" + epoch, world.length, storeTimeout);
    store.deleteKey(ownKey);
  }

  /** Whether this pair goes through host staging: another host, or either side asked for ALL_PEERS. */
  private boolean stagesPeer(PeerMetadata peer) {
    return !ipc.reachable(peer.ipc()) || staging == PeerStaging.ALL_PEERS || peer.stageAll();
  }

  private void connectStaged(int peer, PeerMetadata metadata) {
    if (proxy == null) {
      throw new IllegalArgumentException("rank " + peer + " must be reached through host staging (it is on host "
          + CudaIpcTransport.decodeHost(metadata.ipc()) + (metadata.stageAll() ? " and asked for staging" : "")
          + ") but this backend was created with PeerStaging.OFF; create it with OTHER_HOSTS");
    }
    if (metadata.ucx().length == 0) {
      throw new IllegalArgumentException("rank " + peer + " must be reached through host staging but published no "
          + "UCX metadata: its backend runs with PeerStaging.OFF");
    }
    closeMapping(peer);
    proxy.connect(peer, metadata.ucx());
    staged[peer] = true;
    peerAddress[peer] = mirrors.stagingDeviceAddress();
    peerSlice[peer] = peer;
    recvBase[peer] = mirrors.receiveDeviceAddress();
  }

  private void connectMapped(int peer, byte[] metadata) {
    if (staged[peer]) {
      proxy.disconnect(peer);
      staged[peer] = false;
    }
    // The same process keeps its mapping; a rank that came back as a new process has a new buffer.
    if (mappings[peer] != null && !Arrays.equals(mappedMetadata[peer], metadata)) {
      closeMapping(peer);
    }
    if (mappings[peer] == null) {
      mappings[peer] = ipc.open(peer, metadata);
      mappedMetadata[peer] = metadata;
      peerAddress[peer] = CudaIpcTransport.addressOf(mappings[peer][0]);
      peerOutput[peer] = CudaIpcTransport.addressOf(mappings[peer][1]);
    }
    peerSlice[peer] = rank;
    recvBase[peer] = buffer.address();
  }

  private void closeMapping(int peer) {
    if (mappings[peer] != null) {
      ipc.close(mappings[peer]);
      mappings[peer] = null;
      mappedMetadata[peer] = null;
    }
    peerOutput[peer] = 0;
  }

  @Override
  public void disconnect(int[] ranks) {
    makeCurrent();
    synchronize();
    for (int peer : ranks) {
      DispatchInputCheck.rank(layout, "ranks", peer);
      if (peer == rank) {
        continue;
      }
      closeMapping(peer);
      if (staged[peer]) {
        proxy.disconnect(peer);
        staged[peer] = false;
      }
      peerAddress[peer] = 0;
      connected[peer] = false;
      mask[peer] = 0;
    }
    uploadPeers();
  }

  @Override
  public void updateMask(int rank, boolean masked) {
    DispatchInputCheck.rank(layout, "rank", rank);
    makeCurrent();
    mask[rank] = masked ? 1 : 0;
    uploadPeers();
  }

  @Override
  public int[] queryMask() {
    return mask.clone();
  }

  @Override
  public void cleanMask() {
    makeCurrent();
    Arrays.fill(mask, 0);
    uploadPeers();
  }

  @Override
  public List<PeerTimeoutException> takePeerTimeouts() {
    List<PeerTimeoutException> taken = List.copyOf(peerTimeouts);
    peerTimeouts.clear();
    return taken;
  }

  /** Writes peer addresses and the kernels' mask (1 = masked or not connected), ordered on the stream. */
  private void uploadPeers() {
    synchronize();
    int[] notLive = new int[layout.maxRanks()];
    for (int r = 0; r < notLive.length; r++) {
      notLive[r] = connected[r] && mask[r] == 0 ? 0 : 1;
    }
    CudaException.check(
        JCudaDriver.cuMemcpyHtoD(peerBases.pointer(), Pointer.to(peerAddress), 8L * peerAddress.length),
        "cuMemcpyHtoD(peer_bases)");
    CudaException.check(
        JCudaDriver.cuMemcpyHtoD(peerOutputs.pointer(), Pointer.to(peerOutput), 8L * peerOutput.length),
        "cuMemcpyHtoD(peer_outputs)");
    CudaException.check(
        JCudaDriver.cuMemcpyHtoD(peerSlices.pointer(), Pointer.to(peerSlice), 8L * peerSlice.length),
        "cuMemcpyHtoD(peer_slices)");
    CudaException.check(
        JCudaDriver.cuMemcpyHtoD(recvBases.pointer(), Pointer.to(recvBase), 8L * recvBase.length),
        "cuMemcpyHtoD(recv_bases)");
    CudaException.check(
        JCudaDriver.cuMemcpyHtoD(deviceMask.pointer(), Pointer.to(notLive), 4L * notLive.length), "cuMemcpyHtoD(mask)");
  }

  /** Waits for this rank's stream, then latches every rank the kernels masked by timeout. */
  public void synchronize() {
    CudaException.check(JCudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize");
  }

  /** Reads back the kernels' mask after {@link #synchronize}: a live rank they masked timed out. */
  public void pollTimeouts() {
    int[] notLive = new int[layout.maxRanks()];
    CudaException.check(
        JCudaDriver.cuMemcpyDtoH(Pointer.to(notLive), deviceMask.pointer(), 4L * notLive.length), "cuMemcpyDtoH(mask)");
    for (int r = 0; r < notLive.length; r++) {
      if (notLive[r] != 0 && connected[r] && mask[r] == 0) {
        mask[r] = 1;
        peerTimeouts.add(new PeerTimeoutException(r, epoch, timeout.toMillis()));
      }
    }
  }

  @Override
  public DispatchResult dispatch(
      short[] x, int numTokens, int[] topkIdx, int numTopk, int numExperts, boolean useFp8, boolean roundScale) {
    DispatchInputCheck.dispatch(layout, x, numTokens, topkIdx, numTopk, numExperts, useFp8, roundScale);
    makeCurrent();
    int numRanks = numExperts / layout.numLocalExperts();
    uploadDispatchInputs(x, topkIdx);
    long rows = (long) layout.numLocalExperts() * numRanks * layout.maxTokensPerRank();
    // Rows past each expert's count are never written by the kernels: zero them so results equal the CPU's.
    // Stream-ordered before the kernel, hence before any peer stores in place (it waits for our exchange).
    int b = bufferIdx;
    long packedBytes = layout.srcInfoOffset(b) + layout.srcInfoRegionBytes() - layout.recvXOffset(b);
    CudaException.check(
        JCudaDriver.cuMemsetD8Async(outputs.at(layout.recvXOffset(b)), (byte) 0, packedBytes, stream), "cuMemsetD8Async");
    for (DeviceArray output : List.of(recvCount, layoutRange)) {
      CudaException.check(JCudaDriver.cuMemsetD8Async(output.pointer(), (byte) 0, output.bytes(), stream), "cuMemsetD8Async");
    }
    launchDispatch(numTokens, numTopk, numExperts, useFp8, roundScale);
    synchronize();
    pollTimeouts();

    int hidden = layout.hidden();
    byte[] fp8 = useFp8 ? new byte[Math.toIntExact(rows * hidden)] : null;
    float[] scales = useFp8 ? new float[Math.toIntExact(rows * layout.numScales())] : null;
    short[] bf16 = useFp8 ? null : new short[Math.toIntExact(rows * hidden)];
    int[] counts = new int[layout.numLocalExperts()];
    int[] info = new int[Math.toIntExact(rows)];
    long[] ranges = new long[layout.numLocalExperts() * numRanks];
    if (useFp8) {
      download(Pointer.to(fp8), outputs.at(layout.recvXOffset(b)), fp8.length);
      download(Pointer.to(scales), outputs.at(layout.recvScalesOffset(b)), 4L * scales.length);
    } else {
      download(Pointer.to(bf16), outputs.at(layout.recvXOffset(b)), 2L * bf16.length);
    }
    download(Pointer.to(counts), recvCount.pointer(), 4L * counts.length);
    download(Pointer.to(info), outputs.at(layout.srcInfoOffset(b)), 4L * info.length);
    download(Pointer.to(ranges), layoutRange.pointer(), 8L * ranges.length);
    DispatchHandle handle =
        new DispatchHandle(numRanks, layout.maxTokensPerRank(), hidden, numTokens, info, ranges);
    return new DispatchResult(fp8, scales, bf16, counts, handle);
  }

  /** Copies dispatch inputs to the device (also used by the bench once, before timing). */
  public void uploadDispatchInputs(short[] x, int[] topkIdx) {
    makeCurrent();
    upload(this.x, Pointer.to(x), 2L * x.length);
    upload(this.topkIdx, Pointer.to(topkIdx), 4L * topkIdx.length);
  }

  public void uploadCombineInputs(short[] y, float[] topkWeights) {
    makeCurrent();
    upload(this.y, Pointer.to(y), 2L * y.length);
    uploadTopkWeights(topkWeights);
  }

  public void uploadTopkWeights(float[] topkWeights) {
    makeCurrent();
    upload(this.topkWeights, Pointer.to(topkWeights), 4L * topkWeights.length);
  }

  /** Fills the device-resident expert output y with one bf16 value, for combine on device (bench). */
  public void fillExpertOutputs(short bf16) {
    makeCurrent();
    CudaException.check(JCudaDriver.cuMemsetD16Async(y.pointer(), bf16, y.bytes() / 2, stream), "cuMemsetD16Async(y)");
  }

  /** Enqueues one dispatch on the device-resident inputs; returns at once. */
  public void launchDispatch(int numTokens, int numTopk, int numExperts, boolean useFp8, boolean roundScale) {
    // The kernel clears the next buffer's signals and exchange itself, before its grid barrier: no memset here.
    int b = bufferIdx;
    bufferIdx ^= 1;
    dispatchBufferIdx = b;
    int ranks = layout.maxRanks();
    LowLatencyParams params = params(b, numTokens, numTopk, numExperts / layout.numLocalExperts());
    params.set(LowLatencyParams.Field.X, x.address())
        .set(LowLatencyParams.Field.RECV_X, outputs.address() + layout.recvXOffset(b))
        .set(LowLatencyParams.Field.RECV_SCALES, outputs.address() + layout.recvScalesOffset(b))
        .set(LowLatencyParams.Field.SRC_INFO, outputs.address() + layout.srcInfoOffset(b))
        .set(LowLatencyParams.Field.PEER_OUTPUTS, peerOutputs.address())
        .set(LowLatencyParams.Field.EXPERT_PLAN, expertPlan.address())
        .set(LowLatencyParams.Field.LIVE_SET_OFFSET, layout.liveSetWordOffset(b, 0, 0))
        .set(LowLatencyParams.Field.LIVE_SET_RANK_STRIDE, stride(ranks, i -> layout.liveSetWordOffset(b, i, 0)))
        .set(LowLatencyParams.Field.COUNT_VECTOR_OFFSET, layout.countVectorOffset(b, 0, 0))
        .set(LowLatencyParams.Field.COUNT_VECTOR_RANK_STRIDE, stride(ranks, i -> layout.countVectorOffset(b, i, 0)))
        .set(LowLatencyParams.Field.OUT_X_OFFSET, layout.recvXOffset(b))
        .set(LowLatencyParams.Field.OUT_SCALES_OFFSET, layout.recvScalesOffset(b))
        .set(LowLatencyParams.Field.OUT_SRC_INFO_OFFSET, layout.srcInfoOffset(b))
        .set(LowLatencyParams.Field.NEXT_EXCHANGE_OFFSET, layout.exchangeOffset(bufferIdx))
        .set(LowLatencyParams.Field.EXCHANGE_BYTES, layout.exchangeRegionBytes())
        .set(LowLatencyParams.Field.EXCHANGE_WAIT_NS, exchangeWaitNanos(timeout))
        .set(LowLatencyParams.Field.USE_FP8, useFp8 ? 1 : 0)
        .set(LowLatencyParams.Field.ROUND_SCALE, roundScale ? 1 : 0)
        .set(LowLatencyParams.Field.GRID_BARRIER, gridBarrier.address())
        .set(LowLatencyParams.Field.RECV_MIRROR, proxy == null ? 0 : mirrors.receiveDeviceAddress())
        .set(LowLatencyParams.Field.NEXT_SIGNAL_OFFSET, layout.signalOffset(bufferIdx))
        .set(LowLatencyParams.Field.SIGNAL_BYTES, layout.signalRegionBytes());
    kernels.dispatch(layout.hidden(), params, stream);
  }

  @Override
  public short[] combine(short[] y, int[] topkIdx, float[] topkWeights, DispatchHandle handle) {
    DispatchInputCheck.combine(layout, y, topkIdx, topkWeights, handle);
    makeCurrent();
    uploadCombineInputs(y, topkWeights);
    upload(this.topkIdx, Pointer.to(topkIdx), 4L * topkIdx.length);
    upload(handleSrcInfo, Pointer.to(handle.srcInfo()), 4L * handle.srcInfo().length);
    upload(layoutRange, Pointer.to(handle.layoutRange()), 8L * handle.layoutRange().length);
    int numTopk = handle.numTokens() == 0 ? 1 : topkIdx.length / handle.numTokens();
    launchCombine(handle.numTokens(), numTopk, handle.numRanks(), handleSrcInfo.address());
    synchronize();
    pollTimeouts();
    short[] out = new short[handle.numTokens() * layout.hidden()];
    download(Pointer.to(out), combined.pointer(), 2L * out.length);
    return out;
  }

  /** Enqueues one combine of the device-resident y against the last dispatch's src_info and layout_range. */
  public void launchCombine(int numTokens, int numTopk, int numRanks) {
    launchCombine(numTokens, numTopk, numRanks, outputs.address() + layout.srcInfoOffset(dispatchBufferIdx));
  }

  private void launchCombine(int numTokens, int numTopk, int numRanks, long srcInfoAddress) {
    int b = flipBuffer();
    LowLatencyParams params = params(b, numTokens, numTopk, numRanks);
    params.set(LowLatencyParams.Field.X, y.address())
        .set(LowLatencyParams.Field.RECV_X, combined.address())
        .set(LowLatencyParams.Field.SRC_INFO, srcInfoAddress);
    kernels.combine(layout.hidden(), params, stream);
  }

  /**
   * How long dispatch waits for a peer's exchange before storing rows in the receive slots instead of in
   * place. Waiting for a late peer costs little (every rank's dispatch waits for its rows anyway), but a dead
   * or disagreeing peer holds this rank's sends for the whole wait: an eighth of the timeout keeps that far
   * from what would make a peer time out on this rank.
   */
  static long exchangeWaitNanos(Duration timeout) {
    return timeout.toNanos() / 8;
  }

  /** Every offset and stride comes from {@link DispatchLayout} for buffer {@code b}. */
  private LowLatencyParams params(int b, int numTokens, int numTopk, int numRanks) {
    LowLatencyParams p = new LowLatencyParams();
    int n = layout.maxTokensPerRank();
    int el = layout.numLocalExperts();
    int ranks = layout.maxRanks();
    int experts = layout.numExperts();
    p.set(LowLatencyParams.Field.LOCAL_BASE, buffer.address())
        .set(LowLatencyParams.Field.PEER_BASES, peerBases.address())
        .set(LowLatencyParams.Field.PEER_SLICES, peerSlices.address())
        .set(LowLatencyParams.Field.RECV_BASES, recvBases.address())
        .set(LowLatencyParams.Field.MASK, deviceMask.address())
        .set(LowLatencyParams.Field.TOPK_IDX, topkIdx.address())
        .set(LowLatencyParams.Field.TOPK_WEIGHTS, topkWeights.address())
        .set(LowLatencyParams.Field.RECV_COUNT, recvCount.address())
        .set(LowLatencyParams.Field.LAYOUT_RANGE, layoutRange.address())
        .set(LowLatencyParams.Field.EXPERT_COUNT, expertCount.address())
        .set(LowLatencyParams.Field.ENTRY_SLOT, entrySlot.address())
        .set(LowLatencyParams.Field.EXPERT_DONE, expertDone.address())
        .set(LowLatencyParams.Field.RECV_OFFSET, layout.dispatchRecvSlotOffset(b, 0, 0, 0))
        .set(LowLatencyParams.Field.RECV_EXPERT_STRIDE, stride(el, i -> layout.dispatchRecvSlotOffset(b, i, 0, 0)))
        .set(LowLatencyParams.Field.RECV_RANK_STRIDE, stride(ranks, i -> layout.dispatchRecvSlotOffset(b, 0, i, 0)))
        .set(LowLatencyParams.Field.RECV_SLOT_STRIDE, stride(n, i -> layout.dispatchRecvSlotOffset(b, 0, 0, i)))
        .set(LowLatencyParams.Field.COUNT_OFFSET, layout.dispatchCountOffset(b, 0, 0))
        .set(LowLatencyParams.Field.COUNT_EXPERT_STRIDE, stride(el, i -> layout.dispatchCountOffset(b, i, 0)))
        .set(LowLatencyParams.Field.COUNT_RANK_STRIDE, stride(ranks, i -> layout.dispatchCountOffset(b, 0, i)))
        .set(LowLatencyParams.Field.PAYLOAD_OFFSET, DispatchLayout.dispatchPayloadOffset())
        .set(LowLatencyParams.Field.SCALES_OFFSET, layout.dispatchScalesOffset())
        .set(LowLatencyParams.Field.COMBINE_RECV_OFFSET, layout.combineRecvSlotOffset(b, 0, 0))
        .set(LowLatencyParams.Field.COMBINE_EXPERT_STRIDE, stride(experts, i -> layout.combineRecvSlotOffset(b, i, 0)))
        .set(LowLatencyParams.Field.COMBINE_TOKEN_STRIDE, stride(n, i -> layout.combineRecvSlotOffset(b, 0, i)))
        .set(LowLatencyParams.Field.FLAG_OFFSET, layout.combineFlagOffset(b, 0))
        .set(LowLatencyParams.Field.FLAG_STRIDE, stride(experts, i -> layout.combineFlagOffset(b, i)))
        .set(LowLatencyParams.Field.RANK, rank)
        .set(LowLatencyParams.Field.NUM_RANKS, numRanks)
        .set(LowLatencyParams.Field.NUM_LOCAL_EXPERTS, el)
        .set(LowLatencyParams.Field.MAX_TOKENS, n)
        .set(LowLatencyParams.Field.NUM_TOKENS, numTokens)
        .set(LowLatencyParams.Field.NUM_TOPK, numTopk)
        .set(LowLatencyParams.Field.TIMEOUT_NS, timeout.toNanos());
    return p;
  }

  /** The distance between index 1 and index 0 of a layout offset; 0 when the dimension has one entry. */
  static long stride(int extent, IntToLongFunction offset) {
    return extent > 1 ? offset.applyAsLong(1) - offset.applyAsLong(0) : 0;
  }

  /**
   * Combine's flip: flips the buffer index and clears the next buffer's signals and dispatch exchange on the
   * stream, before its kernel: in the device buffer and outputs, and in the receive mirror, where staged
   * sources' signals land. (The staging mirror's words are the proxy's to clear, once forwarded.)
   */
  private int flipBuffer() {
    int b = bufferIdx;
    bufferIdx ^= 1;
    CudaException.check(
        JCudaDriver.cuMemsetD8Async(
            buffer.at(layout.signalOffset(bufferIdx)), (byte) 0, layout.signalRegionBytes(), stream),
        "cuMemsetD8Async(next signals)");
    CudaException.check(
        JCudaDriver.cuMemsetD8Async(
            outputs.at(layout.exchangeOffset(bufferIdx)), (byte) 0, layout.exchangeRegionBytes(), stream),
        "cuMemsetD8Async(next exchange)");
    if (proxy != null) {
      CudaException.check(
          JCudaDriver.cuMemsetD8Async(
              mirrors.receiveMirror().withByteOffset(layout.signalOffset(bufferIdx)), (byte) 0,
              layout.signalRegionBytes(), stream),
          "cuMemsetD8Async(next signals of the receive mirror)");
    }
    return b;
  }

  private void upload(DeviceArray target, Pointer source, long bytes) {
    CudaException.check(JCudaDriver.cuMemcpyHtoDAsync(target.pointer(), source, bytes, stream), "cuMemcpyHtoDAsync");
    // A Java array may move once this call returns: wait until the copy has read it.
    synchronize();
  }

  private void download(Pointer target, CUdeviceptr source, long bytes) {
    CudaException.check(JCudaDriver.cuMemcpyDtoH(target, source, bytes), "cuMemcpyDtoH");
  }

  @Override
  public void close() {
    makeCurrent();
    JCudaDriver.cuStreamSynchronize(stream);
    if (proxy != null) {
      proxy.close();
      mirrors.close();
    }
    for (CUdeviceptr[] peerMappings : mappings) {
      for (CUdeviceptr mapping : peerMappings == null ? new CUdeviceptr[0] : peerMappings) {
        JCudaDriver.cuIpcCloseMemHandle(mapping);
      }
    }
    for (DeviceArray array : allocations) {
      array.free();
    }
    JCudaDriver.cuStreamDestroy(stream);
    JCudaDriver.cuDevicePrimaryCtxRelease(device);
  }
}
