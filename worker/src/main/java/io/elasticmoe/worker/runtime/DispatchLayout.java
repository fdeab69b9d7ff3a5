package io.elasticmoe.worker.runtime;

/**
 * The one definition of the EP buffer layout and of the dispatch/combine message formats (DESIGN §6),
 * shared by the CPU backend and the CUDA backend's host side; {@code kernels/configs.cuh} mirrors the
 * limits below and a test keeps them equal.
 *
 * <p>One buffer per rank, allocated once for capacity {@code maxRanks}, is laid out as
 * {@code [signal0|signal1|send0|send1|recv0|recv1|liveness]}, every region starting on a 128-byte
 * boundary.
 * With {@code E = maxRanks·numLocalExperts}, {@code N = maxTokensPerRank}, {@code H = hidden},
 * {@code S = H/128}:
 *
 * <ul>
 *   <li>dispatch message = 16-byte header (int 0: source token index) + payload of
 *       {@code max(2H, H + 4S)} bytes: bf16 row {@code [2H]}, or fp8 row {@code [H]} followed by
 *       {@code S} fp32 dequantisation scales;
 *   <li>combine message = bf16 row {@code [2H]} followed by {@code 4S} bytes kept for per-128-channel
 *       metadata (LogFMT scales in DeepEP), unused by the bf16 combine;
 *   <li>signal = {@code align128(E·8)}: uint64 counters, dispatch counts at
 *       {@code localExpert·maxRanks + srcRank}, combine flags at the global expert index;
 *   <li>send = {@code max(N·msgDispatch, E·N·msgCombine)}, recv =
 *       {@code max(E·N·msgDispatch, E·N·msgCombine)}.
 * </ul>
 *
 * <p>The CUDA backend also lays out a second, device-only block, the <b>dispatch outputs</b>
 * ({@code [outputs0|outputs1]}, each {@code [exchange|recv_x|recv_scales|src_info]}), exported through CUDA IPC
 * like the buffer, so same-host senders store rows at their final packed position (DESIGN §6):
 *
 * <ul>
 *   <li>exchange = live sets {@code [maxRanks][W]} uint64 ({@code W = ceil(maxRanks/32)}: bits of 32 ranks,
 *       plus {@link #LIVE_SET_PUBLISHED}) and count vectors {@code [maxRanks][E]} int32 ({@code count+1}), each
 *       source's as it published them to this rank in this call;
 *   <li>recv_x {@code [E_l, maxRanks·N, H]} (bf16-sized, fp8 uses half), recv_scales {@code [E_l, maxRanks·N, S]}
 *       fp32, src_info {@code [E_l, maxRanks·N]} int32.
 * </ul>
 *
 * The CPU backend's buffer (UCX shared memory) does not include it: {@link #totalBytes} is the buffer alone.
 *
 * <p>The layout depends only on its four parameters, so offsets are identical on every rank and a remote
 * address is {@code remoteBase + offset}. This class is pure arithmetic: no transport, no device.
 */
public final class DispatchLayout {

  /** Most experts one token may select (DeepEP/NIXL-EP kNumMaxTopK). */
  public static final int MAX_TOPK = 16;

  /** Most tokens one rank dispatches in a step; 1024 is NIXL-EP's finish-tag constant. */
  public static final int MAX_TOKENS_PER_RANK = 1024;

  /** Every region starts on this boundary (DeepEP NUM_BUFFER_ALIGNMENT_BYTES). */
  public static final int ALIGNMENT_BYTES = 128;

  /** Channels sharing one fp8 scale. */
  public static final int CHANNELS_PER_SCALE = 128;

  /** hidden must be a multiple of this for bf16 dispatch. */
  public static final int HIDDEN_ALIGNMENT = 128;

  /** hidden must be a multiple of this for fp8 dispatch (the kernels cast 512 channels per warp step). */
  public static final int FP8_HIDDEN_ALIGNMENT = 512;

  /** R_b·N must be a multiple of this (vectorised row loops in the kernels). */
  public static final int RECV_ROWS_ALIGNMENT = 4;

  /** maxRanks at or above this must be a multiple of it (NIXL-EP's per-node rank grouping). */
  public static final int RANK_GROUP = 8;

  public static final int DISPATCH_HEADER_BYTES = 16;
  public static final int SIGNAL_BYTES = 8;
  public static final int NUM_BUFFERS = 2;

  /**
   * Set in every combine flag the CUDA kernels write. A buffer's dispatch counts and combine flags share its
   * signal region, and {@code count(e_l, src)} and {@code flag(expert)} can be the same word, so a reader that
   * sees both kinds (the host staging proxy) tells them apart by this bit; a count (at most N + 1) never has it.
   */
  public static final long COMBINE_FLAG_TAG = 0x4000_0000_0000_0000L;

  /**
   * Set in a CUDA dispatch count whose rows the sender stored in place, in the owner's packed recv_x from the
   * row in bits 32..60; unset, the rows are in the owner's receive slots. Never set with {@link #COMBINE_FLAG_TAG}.
   */
  public static final long DISPATCH_IN_PLACE = 0x2000_0000_0000_0000L;

  /** Ranks one live-set word of the dispatch exchange holds (its low bits). */
  public static final int LIVE_SET_RANKS_PER_WORD = 32;

  /** Set in every published live-set word, so that an empty set still reads as published. */
  public static final long LIVE_SET_PUBLISHED = 1L << LIVE_SET_RANKS_PER_WORD;

  private final int maxRanks;
  private final int numLocalExperts;
  private final int maxTokensPerRank;
  private final int hidden;

  private final long dispatchMessageBytes;
  private final long combineMessageBytes;
  private final long signalRegionBytes;
  private final long sendRegionBytes;
  private final long recvRegionBytes;
  private final long livenessRegionBytes;
  private final long liveSetsBytes;
  private final long exchangeRegionBytes;
  private final long recvXRegionBytes;
  private final long recvScalesRegionBytes;
  private final long srcInfoRegionBytes;

  private DispatchLayout(int maxRanks, int numLocalExperts, int maxTokensPerRank, int hidden) {
    this.maxRanks = maxRanks;
    this.numLocalExperts = numLocalExperts;
    this.maxTokensPerRank = maxTokensPerRank;
    this.hidden = hidden;
    long numExperts = (long) maxRanks * numLocalExperts;
    long numScales = hidden / CHANNELS_PER_SCALE;
    this.dispatchMessageBytes =
        DISPATCH_HEADER_BYTES + Math.max(2L * hidden, hidden + 4L * numScales);
    this.combineMessageBytes = 4L * numScales + 2L * hidden;
    this.signalRegionBytes = align(numExperts * SIGNAL_BYTES);
    this.sendRegionBytes =
        align(
            Math.max(
                maxTokensPerRank * dispatchMessageBytes,
                numExperts * maxTokensPerRank * combineMessageBytes));
    this.recvRegionBytes =
        align(
            Math.max(
                numExperts * maxTokensPerRank * dispatchMessageBytes,
                numExperts * maxTokensPerRank * combineMessageBytes));
    this.livenessRegionBytes = align((long) maxRanks * SIGNAL_BYTES);
    long packedRows = numExperts * maxTokensPerRank;
    this.liveSetsBytes = align((long) maxRanks * liveSetWords() * SIGNAL_BYTES);
    this.exchangeRegionBytes = liveSetsBytes + align((long) maxRanks * numExperts * 4);
    this.recvXRegionBytes = align(packedRows * 2 * hidden);
    this.recvScalesRegionBytes = align(packedRows * 4 * numScales);
    this.srcInfoRegionBytes = align(packedRows * 4);
  }

  /**
   * Validates the capacity parameters, one check per parameter in argument order, and returns the layout.
   */
  public static DispatchLayout of(
      int maxRanks, int numLocalExperts, int maxTokensPerRank, int hidden) {
    if (maxRanks < 1 || (maxRanks >= RANK_GROUP && maxRanks % RANK_GROUP != 0)) {
      throw new IllegalArgumentException(
          "maxRanks is " + maxRanks + "; it must be in 1.." + (RANK_GROUP - 1)
              + " or a multiple of " + RANK_GROUP + " (NIXL-EP rank grouping)");
    }
    if (numLocalExperts < 1) {
      throw new IllegalArgumentException(
          "numLocalExperts is " + numLocalExperts + "; it must be at least 1");
    }
    if (maxTokensPerRank < 1 || maxTokensPerRank > MAX_TOKENS_PER_RANK) {
      throw new IllegalArgumentException(
          "maxTokensPerRank is " + maxTokensPerRank + "; it must be in 1.." + MAX_TOKENS_PER_RANK
              + " (MAX_TOKENS_PER_RANK)");
    }
    if (hidden < HIDDEN_ALIGNMENT || hidden % HIDDEN_ALIGNMENT != 0) {
      throw new IllegalArgumentException(
          "hidden is " + hidden + "; it must be a positive multiple of " + HIDDEN_ALIGNMENT
              + " (HIDDEN_ALIGNMENT)");
    }
    return new DispatchLayout(maxRanks, numLocalExperts, maxTokensPerRank, hidden);
  }

  public static long align(long bytes) {
    return (bytes + ALIGNMENT_BYTES - 1) / ALIGNMENT_BYTES * ALIGNMENT_BYTES;
  }

  public int maxRanks() {
    return maxRanks;
  }

  public int numLocalExperts() {
    return numLocalExperts;
  }

  public int maxTokensPerRank() {
    return maxTokensPerRank;
  }

  public int hidden() {
    return hidden;
  }

  /** E: the experts the buffer has room for. */
  public int numExperts() {
    return maxRanks * numLocalExperts;
  }

  /** S: fp8 scales per token. */
  public int numScales() {
    return hidden / CHANNELS_PER_SCALE;
  }

  public long dispatchMessageBytes() {
    return dispatchMessageBytes;
  }

  public long combineMessageBytes() {
    return combineMessageBytes;
  }

  public long signalRegionBytes() {
    return signalRegionBytes;
  }

  public long sendRegionBytes() {
    return sendRegionBytes;
  }

  public long recvRegionBytes() {
    return recvRegionBytes;
  }

  public long livenessRegionBytes() {
    return livenessRegionBytes;
  }

  public long totalBytes() {
    return livenessOffset() + livenessRegionBytes;
  }

  public long signalOffset(int bufferIdx) {
    return checkBuffer(bufferIdx) * signalRegionBytes;
  }

  public long sendOffset(int bufferIdx) {
    return NUM_BUFFERS * signalRegionBytes + checkBuffer(bufferIdx) * sendRegionBytes;
  }

  public long recvOffset(int bufferIdx) {
    return NUM_BUFFERS * (signalRegionBytes + sendRegionBytes)
        + checkBuffer(bufferIdx) * recvRegionBytes;
  }

  public long livenessOffset() {
    return NUM_BUFFERS * (signalRegionBytes + sendRegionBytes + recvRegionBytes);
  }

  /** The word {@code srcRank} advances in this buffer while it is alive but waiting on someone. */
  public long livenessWordOffset(int srcRank) {
    return livenessOffset() + (long) checkRank(srcRank) * SIGNAL_BYTES;
  }

  /** W: live-set words per source in the dispatch exchange. */
  public int liveSetWords() {
    return (maxRanks + LIVE_SET_RANKS_PER_WORD - 1) / LIVE_SET_RANKS_PER_WORD;
  }

  /** Bytes of one buffer's dispatch outputs (exchange, recv_x, recv_scales, src_info). */
  public long outputsRegionBytes() {
    return exchangeRegionBytes + recvXRegionBytes + recvScalesRegionBytes + srcInfoRegionBytes;
  }

  /** The CUDA backend's dispatch-output block: both buffers' outputs. */
  public long outputsTotalBytes() {
    return NUM_BUFFERS * outputsRegionBytes();
  }

  /** The exchange region: cleared for the next call like the signals, so a non-zero word is this call's. */
  public long exchangeRegionBytes() {
    return exchangeRegionBytes;
  }

  public long exchangeOffset(int bufferIdx) {
    return checkBuffer(bufferIdx) * outputsRegionBytes();
  }

  /** Word {@code word} of the live set {@code srcRank} published to this rank: bit i = rank 32·word + i live. */
  public long liveSetWordOffset(int bufferIdx, int srcRank, int word) {
    if (word < 0 || word >= liveSetWords()) {
      throw new IllegalArgumentException(
          "live-set word is " + word + "; it must be in 0.." + (liveSetWords() - 1));
    }
    return exchangeOffset(bufferIdx) + ((long) checkRank(srcRank) * liveSetWords() + word) * SIGNAL_BYTES;
  }

  /** The int32 {@code count+1} of rows {@code srcRank} sends to {@code globalExpert} in this call. */
  public long countVectorOffset(int bufferIdx, int srcRank, int globalExpert) {
    return exchangeOffset(bufferIdx) + liveSetsBytes
        + ((long) checkRank(srcRank) * numExperts() + checkGlobalExpert(globalExpert)) * 4;
  }

  /** Packed recv_x: row {@code localExpert·R_b·N + row}, H fp8 or 2H bf16 bytes each. */
  public long recvXOffset(int bufferIdx) {
    return exchangeOffset(bufferIdx) + exchangeRegionBytes;
  }

  public long recvXRegionBytes() {
    return recvXRegionBytes;
  }

  /** Packed recv_scales: S fp32 per row. */
  public long recvScalesOffset(int bufferIdx) {
    return recvXOffset(bufferIdx) + recvXRegionBytes;
  }

  public long recvScalesRegionBytes() {
    return recvScalesRegionBytes;
  }

  /** Packed src_info: one int32 (the source token index) per row. */
  public long srcInfoOffset(int bufferIdx) {
    return recvScalesOffset(bufferIdx) + recvScalesRegionBytes;
  }

  public long srcInfoRegionBytes() {
    return srcInfoRegionBytes;
  }

  /**
   * Where the CPU backend casts token {@code tokenIdx} once before it is written to every selected expert's
   * owner (the CUDA dispatch casts each (token, k) entry in registers instead: kernels/dispatch_ll.cu).
   */
  public long dispatchSendSlotOffset(int bufferIdx, int tokenIdx) {
    return sendOffset(bufferIdx) + checkToken(tokenIdx) * dispatchMessageBytes;
  }

  /** {@code recv[localExpert][srcRank][slot]}: where a source rank writes its slot-th token for an expert. */
  public long dispatchRecvSlotOffset(int bufferIdx, int localExpert, int srcRank, int slot) {
    long row =
        ((long) checkLocalExpert(localExpert) * maxRanks + checkRank(srcRank)) * maxTokensPerRank
            + checkToken(slot);
    return recvOffset(bufferIdx) + row * dispatchMessageBytes;
  }

  /** The counter a source rank publishes as {@code count+1} once all its tokens for an expert are written. */
  public long dispatchCountOffset(int bufferIdx, int localExpert, int srcRank) {
    return signalOffset(bufferIdx)
        + ((long) checkLocalExpert(localExpert) * maxRanks + checkRank(srcRank)) * SIGNAL_BYTES;
  }

  /** Staging slot for row {@code row} (in {@code [0, maxRanks·N)}) of a local expert's combine input. */
  public long combineSendSlotOffset(int bufferIdx, int localExpert, int row) {
    if (row < 0 || row >= maxRanks * maxTokensPerRank) {
      throw new IllegalArgumentException(
          "combine row is " + row + "; it must be in 0.." + (maxRanks * maxTokensPerRank - 1));
    }
    return sendOffset(bufferIdx)
        + ((long) checkLocalExpert(localExpert) * maxRanks * maxTokensPerRank + row)
            * combineMessageBytes;
  }

  /** {@code recv[globalExpert][srcToken]}: where an expert's owner returns the output for a token. */
  public long combineRecvSlotOffset(int bufferIdx, int globalExpert, int tokenIdx) {
    return recvOffset(bufferIdx)
        + ((long) checkGlobalExpert(globalExpert) * maxTokensPerRank + checkToken(tokenIdx))
            * combineMessageBytes;
  }

  /** The flag an expert's owner sets once all its combine rows for this rank are written. */
  public long combineFlagOffset(int bufferIdx, int globalExpert) {
    return signalOffset(bufferIdx) + (long) checkGlobalExpert(globalExpert) * SIGNAL_BYTES;
  }

  /** Within a dispatch message: where the payload (bf16 or fp8 row) starts. */
  public static long dispatchPayloadOffset() {
    return DISPATCH_HEADER_BYTES;
  }

  /** Within an fp8 dispatch message: where the S fp32 scales start. */
  public long dispatchScalesOffset() {
    return DISPATCH_HEADER_BYTES + (long) hidden;
  }

  private static long checkBuffer(int bufferIdx) {
    if (bufferIdx < 0 || bufferIdx >= NUM_BUFFERS) {
      throw new IllegalArgumentException(
          "bufferIdx is " + bufferIdx + "; it must be 0 or 1 (double buffering)");
    }
    return bufferIdx;
  }

  private long checkToken(int tokenIdx) {
    if (tokenIdx < 0 || tokenIdx >= maxTokensPerRank) {
      throw new IllegalArgumentException(
          "token index is " + tokenIdx + "; it must be in 0.." + (maxTokensPerRank - 1));
    }
    return tokenIdx;
  }

  private int checkRank(int rank) {
    if (rank < 0 || rank >= maxRanks) {
      throw new IllegalArgumentException(
          "rank is " + rank + "; it must be in 0.." + (maxRanks - 1) + " (maxRanks)");
    }
    return rank;
  }

  private int checkLocalExpert(int localExpert) {
    if (localExpert < 0 || localExpert >= numLocalExperts) {
      throw new IllegalArgumentException(
          "local expert is " + localExpert + "; it must be in 0.." + (numLocalExperts - 1));
    }
    return localExpert;
  }

  private int checkGlobalExpert(int globalExpert) {
    if (globalExpert < 0 || globalExpert >= numExperts()) {
      throw new IllegalArgumentException(
          "global expert is " + globalExpert + "; it must be in 0.." + (numExperts() - 1));
    }
    return globalExpert;
  }

  @Override
  public String toString() {
    return "DispatchLayout[maxRanks=" + maxRanks + ", numLocalExperts=" + numLocalExperts
        + ", maxTokensPerRank=" + maxTokensPerRank + ", hidden=" + hidden + ", totalBytes="
        + totalBytes() + "]";
  }
}
