// Low-latency dispatch (DESIGN §6), one launch in two phases around a grid barrier:
//  1. prepare: block 0 publishes this rank's live set (the mask at launch, which nothing changes before the
//     grid barrier) to every live same-host rank; each block numbers the (token, k) entries bound for two
//     experts at a time (one block scan) in (token, k) order, which fixes every slot before any byte moves, so
//     slot numbers (hence recv_x rows) equal the CPU backend's bit for bit (DeepEP's atomicAdd slots would
//     not), and publishes the expert's count to every live same-host rank above this one; the other buffer's signals and exchange are
//     cleared (here and in the receive mirror), so the clear is complete before this call emits anything there,
//     as double buffering requires. Block 0 plans where each expert's rows go (plan_sends): right after the
//     publish when it numbers no expert (numbering starts at block 1; 132 blocks, 128 expert pairs), so its
//     waits for the peers' live sets and counts overlap the numbering, else after its share of the numbering.
//  2. send and receive: one warp per (token, k) entry, spread over the whole grid (as DeepEP's LL dispatch),
//     casts its token from x (fp8 per 128 channels, or bf16) in registers and stores it at its planned place
//     (no send slot: store_token says why): in place, at its final packed row of the owner's recv_x,
//     recv_scales and src_info (through the owner's CUDA IPC mapping of its output block, or our own), or in
//     the owner's recv[e_l][rank][slot]; the warp that stores an expert's last row publishes the count (and
//     where the rows are, DispatchCountWord) with a system-scope release, after an acquire-release count of
//     the expert's stored rows. Then one block per local expert waits for every live source's counter
//     (timeout -> mask) and writes recv_count and layout_range. Rows stored in place where the owner's layout
//     puts them cost the owner nothing; the rest it packs from the receive slots as before the exchange existed.
// Rows stored in place skip the packing copy, which was 36 of 154 us at 1024 tokens (docs/benchmarks/cuda.md,
// run 10). In place needs the packed row, i.e. the counts of every source before this rank in the owner's
// layout, and two senders must never compute overlapping rows. Hence a sender stores to owner o in place only
// if o is reachable through CUDA IPC, o published the same live set L as ours (then every in-place sender to o
// used one L, and each reserved the rows of every source of L before it: no overlap), and every source of L
// before this rank published its counts to us (a staged one cannot: its rows make ours fall back). These
// waits are bounded (exchange_wait_ns, a fraction of the timeout) and never mask: a late exchange only sends
// rows to the slots, and liveness is decided by the count waits alone, as before the exchange existed. The
// owner checks each counter's packed row against its own layout (which drops sources masked mid-call); rows
// stored in place elsewhere are first copied out to their receive slots, then everything not in place is packed.
// An in-place store happens only after its owner's live set of this call arrived, so after the owner's
// stream-ordered work before this call (its reads of the last results, its zeroing of the outputs); and
// after the plan the send loop never waits, so a sender the owner masked by timeout could store late only if
// its GPU stalled for longer than the timeout between plan and store.
// (Two launches and a host memset before them cost 10 us at 128 tokens on an H200: the barrier replaces them.)
// A staged (other-node) owner is written through the same code with other table entries: peer_bases points
// at the pinned host staging mirror and peer_slices names the owner, so the tokens land in the mirror's
// recv[e_l][owner][slot] and count(e_l, owner), which the host proxy forwards (data, flush, counter) into
// the owner's receive mirror at recv[e_l][rank][slot]. A staged source's counter and rows are read from our
// receive mirror (recv_bases), the counter with a system-scope acquire, so the rows after it are current.
#include "api.cuh"
#include "utils.cuh"

namespace elasticmoe {

__device__ __forceinline__ bool is_live(const LowLatencyParams& p, int rank) {
  return ld_volatile(reinterpret_cast<const int*>(p.mask) + rank) == 0 &&
         reinterpret_cast<const uint64_t*>(p.peer_bases)[rank] != 0;
}

// A rank's dispatch-output block through CUDA IPC (ours for this rank); nullptr when not IPC-reachable.
__device__ __forceinline__ char* outputs_of(const LowLatencyParams& p, int rank) {
  return reinterpret_cast<char*>(reinterpret_cast<const uint64_t*>(p.peer_outputs)[rank]);
}

// Spins until the word is non-zero and returns it; returns 0 once the source is not live or at deadline_ns
// (%globaltimer). With kMaskOnTimeout, a source silent until the deadline is masked (sticky).
template <bool kMaskOnTimeout, typename Word>
__device__ __forceinline__ Word await_word(const LowLatencyParams& p, const Word* word, int src, uint64_t deadline_ns) {
  int* const mask = reinterpret_cast<int*>(p.mask);
  while (true) {
    const Word value = ld_acquire_sys(word);
    if (value != 0) return value;
    if (ld_volatile(mask + src) != 0) return 0;
    if (global_timer_ns() > deadline_ns) {
      if (kMaskOnTimeout) atomicExch(mask + src, 1);
      return 0;
    }
  }
}

__device__ __forceinline__ bool in_set(const uint32_t* live_set, int rank) {
  return (live_set[rank / NUM_LIVE_SET_RANKS_PER_WORD] >> (rank % NUM_LIVE_SET_RANKS_PER_WORD)) & 1u;
}

// Block 0, first thing: this rank's live set into shared memory and to every live same-host peer. A relaxed
// store, not a release: nothing this call wrote before it is anything a peer's in-place stores could overtake
// (it has written nothing yet), and the stream-ordered work before this call is complete when it starts. A
// release's system-wide fence sat on every call's critical path (4096-token dispatch 4-9 us faster without).
__device__ __forceinline__ void publish_live_set(const LowLatencyParams& p, uint32_t* live_set) {
  const int lane = threadIdx.x % 32;
  const int num_ranks = static_cast<int>(p.num_ranks);
  const int num_words = (num_ranks + NUM_LIVE_SET_RANKS_PER_WORD - 1) / NUM_LIVE_SET_RANKS_PER_WORD;
  for (int w = threadIdx.x / 32; w < num_words; w += blockDim.x / 32) {
    const int r = w * NUM_LIVE_SET_RANKS_PER_WORD + lane;
    const unsigned bits = __ballot_sync(0xffffffffu, r < num_ranks && is_live(p, r));
    if (lane == 0) live_set[w] = bits;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < num_ranks * num_words; i += blockDim.x) {
    const int r = i / num_words;
    char* const out = outputs_of(p, r);
    if (r == p.rank || out == nullptr || !is_live(p, r)) continue;
    st_relaxed_sys(reinterpret_cast<uint64_t*>(out + p.live_set_offset + p.rank * p.live_set_rank_stride) + i % num_words,
                   live_set[i % num_words] | LIVE_SET_PUBLISHED);
  }
}

// Block 0, before the grid barrier: expert_plan[e] = the first packed row of this rank's rows in e's owner's
// outputs (in place), -1 (the owner's receive slots) or -2 (owner not live: nothing is sent); every block
// sends by this one plan. Its waits end at exchange_wait_ns and never mask: a peer whose exchange is late
// only costs the in-place stores (its rows and ours fall back to the slots), while liveness is still decided
// by the count waits alone, as without the exchange. (Masking here would hold this rank's sends for a whole
// timeout, so that other ranks could time out on it.)
__device__ __forceinline__ void plan_sends(const LowLatencyParams& p, const uint32_t* live_set) {
  const int rank = static_cast<int>(p.rank);
  const int num_ranks = static_cast<int>(p.num_ranks);
  const int num_local_experts = static_cast<int>(p.num_local_experts);
  const int num_experts = num_ranks * num_local_experts;
  const int num_words = (num_ranks + NUM_LIVE_SET_RANKS_PER_WORD - 1) / NUM_LIVE_SET_RANKS_PER_WORD;
  const char* const own = outputs_of(p, rank);
  int* const plan = reinterpret_cast<int*>(p.expert_plan);
  __shared__ bool agrees[NUM_MAX_SOURCE_RANKS];
  const uint64_t deadline_ns = global_timer_ns() + static_cast<uint64_t>(p.exchange_wait_ns);
  for (int owner = threadIdx.x; owner < num_ranks; owner += blockDim.x) {
    bool agree = in_set(live_set, rank) && in_set(live_set, owner) && outputs_of(p, owner) != nullptr;
    const uint64_t* const published =
        reinterpret_cast<const uint64_t*>(own + p.live_set_offset + owner * p.live_set_rank_stride);
    for (int w = 0; agree && owner != rank && w < num_words; ++w) {
      agree = await_word<false>(p, published + w, owner, deadline_ns) == (live_set[w] | LIVE_SET_PUBLISHED);
    }
    agrees[owner] = agree;
  }
  __syncthreads();
  for (int e = threadIdx.x; e < num_experts; e += blockDim.x) {
    bool complete = agrees[e / num_local_experts];
    int first_row = 0;
    for (int src = 0; complete && src < rank; ++src) {
      if (!in_set(live_set, src)) continue;
      // A staged source publishes no counts: its rows, before ours, are of unknown number.
      complete = outputs_of(p, src) != nullptr;
      const uint32_t* const counts =
          reinterpret_cast<const uint32_t*>(own + p.count_vector_offset + src * p.count_vector_rank_stride);
      const uint32_t count = complete ? await_word<false>(p, counts + e, src, deadline_ns) : 0;
      complete = count != 0;
      first_row += static_cast<int>(count) - 1;
    }
    plan[e] = !is_live(p, e / num_local_experts) ? -2 : complete ? first_row : -1;
  }
}

// Experts a block numbers per round of dispatch_prepare (one block scan).
constexpr int kExpertsPerRound = 2;

// Numbering starts at block 1 (block 0 takes the last round-robin turn), so when the grid has a block to spare
// (132 multiprocessors, 128 expert pairs at 256 experts) block 0 numbers nothing and plans at once.
__device__ __forceinline__ int numbering_block() { return blockIdx.x == 0 ? gridDim.x - 1 : blockIdx.x - 1; }

__device__ __forceinline__ bool block0_numbers_nothing(const LowLatencyParams& p) {
  return static_cast<int64_t>(gridDim.x - 1) * kExpertsPerRound >= p.num_ranks * p.num_local_experts;
}

__device__ __forceinline__ void dispatch_prepare(const LowLatencyParams& p) {
  const int lane = threadIdx.x % 32;
  const int num_tokens = static_cast<int>(p.num_tokens);
  const int num_topk = static_cast<int>(p.num_topk);
  const int num_ranks = static_cast<int>(p.num_ranks);
  const int num_experts = num_ranks * static_cast<int>(p.num_local_experts);
  const int max_tokens = static_cast<int>(p.max_tokens);
  const int* const topk_idx = reinterpret_cast<const int*>(p.topk_idx);

  // Slots: a block numbers kExpertsPerRound experts at a time, each thread owning one contiguous run of the
  // (token, k) entries, loaded once into per-expert hit masks. An exclusive scan over the block of every
  // thread's hit counts (the experts' counts packed side by side in one word: each is at most N·K < 2^16)
  // gives each thread the slot of its first hit at each expert, and the hits of a thread follow in (token, k)
  // order, so slots are numbered as the CPU backend numbers them. One load of topk_idx per thread and one
  // block scan replace eight warps per expert each reading a segment twice (the second read behind a ballot
  // chain). The scan's total is the expert's count; one warp per expert of the round zeroes its stored-rows
  // count for the send phase and publishes the count.
  constexpr int kMaxEntriesPerThread = NUM_MAX_DISPATCH_TOKENS * NUM_MAX_TOPK / NUM_DISPATCH_THREADS;
  static_assert(kMaxEntriesPerThread <= 32 && NUM_MAX_DISPATCH_TOKENS * NUM_MAX_TOPK < (1 << 16),
                "a thread's hits fit one mask word, an expert's count half a scan word");
  const int num_entries = num_tokens * num_topk;
  int* const entry_slot = reinterpret_cast<int*>(p.entry_slot);
  const int entries_per_thread = (num_entries + NUM_DISPATCH_THREADS - 1) / NUM_DISPATCH_THREADS;
  const int first_entry = threadIdx.x * entries_per_thread;
  const int warp = threadIdx.x / 32;
  __shared__ uint32_t warp_sums[NUM_DISPATCH_THREADS / 32];
  __shared__ uint32_t round_total;
  // Block-uniform loop: every thread reaches every barrier.
  for (int first = numbering_block() * kExpertsPerRound; first < num_experts; first += gridDim.x * kExpertsPerRound) {
    uint32_t hits[kExpertsPerRound] = {};
#pragma unroll
    for (int i = 0; i < kMaxEntriesPerThread; ++i) {
      if (i < entries_per_thread && first_entry + i < num_entries) {
        const int e = __ldg(topk_idx + first_entry + i);
#pragma unroll
        for (int x = 0; x < kExpertsPerRound; ++x) hits[x] |= static_cast<uint32_t>(e == first + x) << i;
      }
    }
    uint32_t packed = 0;
#pragma unroll
    for (int x = 0; x < kExpertsPerRound; ++x) packed |= static_cast<uint32_t>(__popc(hits[x])) << (16 * x);
    // Exclusive block scan: within the warp, then over the warps' sums.
    uint32_t inclusive = packed;
#pragma unroll
    for (int offset = 1; offset < 32; offset <<= 1) {
      const uint32_t other = __shfl_up_sync(0xffffffffu, inclusive, offset);
      if (lane >= offset) inclusive += other;
    }
    if (lane == 31) warp_sums[warp] = inclusive;
    __syncthreads();
    if (warp == 0) {
      const uint32_t sum = warp_sums[lane];
      uint32_t scanned = sum;
#pragma unroll
      for (int offset = 1; offset < 32; offset <<= 1) {
        const uint32_t other = __shfl_up_sync(0xffffffffu, scanned, offset);
        if (lane >= offset) scanned += other;
      }
      warp_sums[lane] = scanned - sum;  // exclusive
      if (lane == 31) round_total = scanned;
    }
    __syncthreads();
    const uint32_t before = warp_sums[warp] + inclusive - packed;
#pragma unroll
    for (int x = 0; x < kExpertsPerRound; ++x) {
      uint32_t rest = hits[x];
      int slot = static_cast<int>((before >> (16 * x)) & 0xffffu);
      while (rest != 0) {
        const int i = __ffs(rest) - 1;
        rest &= rest - 1;
        // A token naming one expert twice could overflow N slots; DispatchInputCheck bounds tokens by N.
        entry_slot[first_entry + i] = slot < max_tokens ? slot : -1;
        ++slot;
      }
    }
    const int e = first + warp;
    if (warp < kExpertsPerRound && e < num_experts) {
      const int count = min(static_cast<int>((round_total >> (16 * warp)) & 0xffffu), max_tokens);
      if (lane == 0) {
        reinterpret_cast<int*>(p.expert_count)[e] = count;
        reinterpret_cast<int*>(p.expert_done)[e] = 0;
      }
      // The count vector: only ranks above this one add our counts to their packed rows (plan_sends).
      for (int r = static_cast<int>(p.rank) + 1 + lane; r < num_ranks; r += 32) {
        char* const out = outputs_of(p, r);
        if (out == nullptr || !is_live(p, r)) continue;
        st_relaxed_sys(reinterpret_cast<uint32_t*>(out + p.count_vector_offset + p.rank * p.count_vector_rank_stride) + e,
                       static_cast<uint32_t>(count) + 1);
      }
    }
    __syncthreads();  // warp_sums and round_total are written again in the next round
  }
}

// Zeroes the other buffer's signal region, in our buffer and (staged sources) in the receive mirror, and its
// exchange region in our outputs. Blocks are counted from the last, which numbers nothing when block 0 does not
// either: block 0, which publishes and plans, clears nothing unless the regions need the whole grid.
__device__ __forceinline__ void clear_next_signals(const LowLatencyParams& p) {
  const int64_t first = static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * blockDim.x + threadIdx.x;
  uint64_t* const local = reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(p.local_base) + p.next_signal_offset);
  uint64_t* const mirror =
      p.recv_mirror == 0 ? nullptr : reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(p.recv_mirror) + p.next_signal_offset);
  for (int64_t i = first; i < p.signal_bytes / 8; i += gridDim.x * blockDim.x) {
    local[i] = 0;
    if (mirror != nullptr) mirror[i] = 0;
  }
  uint64_t* const exchange = reinterpret_cast<uint64_t*>(outputs_of(p, static_cast<int>(p.rank)) + p.next_exchange_offset);
  for (int64_t i = first; i < p.exchange_bytes / 8; i += gridDim.x * blockDim.x) {
    exchange[i] = 0;
  }
}

// Stores token t, cast from x in registers, as one message: the source token index at info, the payload
// (fp8 per 128 channels, or bf16) at payload, the fp8 scales at scales; the same body serves a packed row of
// an owner's outputs (in place) and a receive slot (header, payload, scales). Each (token, k) entry's warp
// casts its token itself, so the cast is repeated k times, from x in L2, rather than once into a send slot
// before the grid barrier: it overlaps the sends instead of delaying them (about 9 us of a 1024-token
// dispatch, run 10), and no warp ever waits for another's cast. A lane holds 16 channels: one 16-byte store
// of codes, and a 128-channel group is 8 lanes, so its amax takes three shuffles. The max of the same values
// in any order and the same float operations as Fp8Codec.scale/scaleInv give the CPU backend's codes and
// scales bit for bit.
template <int kHidden>
__device__ __forceinline__ void store_token(const LowLatencyParams& p, int t, int* info, char* payload, char* scales,
                                            int lane) {
  constexpr int kChannelsPerLane = 16;
  constexpr int kChannelsPerRound = 32 * kChannelsPerLane;
  constexpr int kLanesPerScale = NUM_CHANNELS_PER_SCALE / kChannelsPerLane;
  constexpr int kRounds = kHidden / kChannelsPerRound;
  // Two rounds' loads (64 bytes a lane) in flight before the first store, as many bytes as warp_copy<4> keeps.
  constexpr int kUnroll = 2;
  static_assert(kChannelsPerRound == NUM_FP8_HIDDEN_ALIGNMENT && kHidden % kChannelsPerRound == 0,
                "a round is the fp8 hidden alignment, and every compiled hidden size is a multiple of it");
  const __nv_bfloat16* const row = reinterpret_cast<const __nv_bfloat16*>(p.x) + static_cast<int64_t>(t) * kHidden;
  if (lane == 0) *info = t;
  if (!p.use_fp8) {
    // 48 bytes a lane in flight: warp_copy<4> beside the fp8 rounds spills (64 registers), <3> does not.
    warp_copy<3>(payload, row, kHidden * 2, lane);
    return;
  }
#pragma unroll 1
  for (int first = 0; first < kRounds; first += kUnroll) {
    int4 raw[kUnroll][2];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (first + u >= kRounds) break;
      const int4* const src = reinterpret_cast<const int4*>(row + (first + u) * kChannelsPerRound + lane * kChannelsPerLane);
      raw[u][0] = ld_nc(src);
      raw[u][1] = ld_nc(src + 1);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (first + u >= kRounds) break;
      const int channel = (first + u) * kChannelsPerRound + lane * kChannelsPerLane;
      const __nv_bfloat162* const pairs = reinterpret_cast<const __nv_bfloat162*>(raw[u]);
      float amax = 0.0f;
#pragma unroll
      for (int i = 0; i < kChannelsPerLane / 2; ++i) {
        const float2 v = __bfloat1622float2(pairs[i]);
        amax = fmaxf(amax, fmaxf(fabsf(v.x), fabsf(v.y)));
      }
      amax = fmaxf(warp_reduce_max<kLanesPerScale>(amax), FP8_AMAX_FLOOR);
      float scale, scale_inv;
      if (p.round_scale) {
        const int exponent = ceil_log2(amax * (1.0f / FP8_MAX));
        scale = exp2_int(-exponent);
        scale_inv = exp2_int(exponent);
      } else {
        scale = __fdiv_rn(FP8_MAX, amax);
        scale_inv = __fmul_rn(amax, 1.0f / FP8_MAX);
      }
      uint32_t codes[kChannelsPerLane / 4];
#pragma unroll
      for (int i = 0; i < kChannelsPerLane / 4; ++i) {
        const float2 lo = __bfloat1622float2(pairs[2 * i]);
        const float2 hi = __bfloat1622float2(pairs[2 * i + 1]);
        const __nv_fp8x2_storage_t c0 = __nv_cvt_float2_to_fp8x2(
            make_float2(__fmul_rn(lo.x, scale), __fmul_rn(lo.y, scale)), __NV_SATFINITE, __NV_E4M3);
        const __nv_fp8x2_storage_t c1 = __nv_cvt_float2_to_fp8x2(
            make_float2(__fmul_rn(hi.x, scale), __fmul_rn(hi.y, scale)), __NV_SATFINITE, __NV_E4M3);
        codes[i] = static_cast<uint32_t>(c0) | (static_cast<uint32_t>(c1) << 16);
      }
      st_na(reinterpret_cast<int4*>(payload + channel),
            make_int4(static_cast<int>(codes[0]), static_cast<int>(codes[1]), static_cast<int>(codes[2]),
                      static_cast<int>(codes[3])));
      if (lane % kLanesPerScale == 0) {
        reinterpret_cast<float*>(scales)[channel / NUM_CHANNELS_PER_SCALE] = scale_inv;
      }
    }
  }
}

// Copies one row between a message (header with the source token index, payload, scales) and its packed row
// of an output block (src_info, recv_x, recv_scales), either way: one body serves the copy-out of misplaced
// rows and the packing, which keeps the kernel within its 64 registers.
template <int kHidden>
__device__ __forceinline__ void copy_row(const LowLatencyParams& p, char* outputs, int64_t row, char* message,
                                         bool to_packed, int lane) {
  constexpr int kScaleBytes = kHidden / NUM_CHANNELS_PER_SCALE * 4;
  const int64_t row_bytes = p.use_fp8 ? kHidden : kHidden * 2;
  int* const info = reinterpret_cast<int*>(outputs + p.out_src_info_offset) + row;
  if (lane == 0) *(to_packed ? info : reinterpret_cast<int*>(message)) = *(to_packed ? reinterpret_cast<int*>(message) : info);
  char* const packed_x = outputs + p.out_x_offset + row * row_bytes;
  char* const message_x = message + p.payload_offset;
  warp_copy(to_packed ? packed_x : message_x, to_packed ? message_x : packed_x, row_bytes, lane);
  if (p.use_fp8) {
    char* const packed_scales = outputs + p.out_scales_offset + row * kScaleBytes;
    char* const message_scales = message + p.scales_offset;
    warp_copy(to_packed ? packed_scales : message_scales, to_packed ? message_scales : packed_scales, kScaleBytes, lane);
  }
}

template <int kHidden>
__device__ __forceinline__ void dispatch(const LowLatencyParams& p) {
  __shared__ uint32_t live_set[NUM_MAX_SOURCE_RANKS / NUM_LIVE_SET_RANKS_PER_WORD];
  if (blockIdx.x == 0) publish_live_set(p, live_set);
  // Block 0 plans at once when it numbers nothing (the waits for peers' live sets and counts then overlap the
  // other blocks' numbering instead of following block 0's share of it), else after its share, so peers'
  // counts have had that long to arrive and our own counts are not held behind the waits.
  const bool plan_first = block0_numbers_nothing(p);
  if (blockIdx.x == 0 && plan_first) plan_sends(p, live_set);
  dispatch_prepare(p);
  clear_next_signals(p);
  if (blockIdx.x == 0 && !plan_first) plan_sends(p, live_set);
  grid_sync(reinterpret_cast<uint64_t*>(p.grid_barrier));

  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int num_warps = blockDim.x / 32;
  const int num_ranks = static_cast<int>(p.num_ranks);
  const int num_local_experts = static_cast<int>(p.num_local_experts);
  const int max_tokens = static_cast<int>(p.max_tokens);
  const int64_t rows_per_expert = static_cast<int64_t>(num_ranks) * max_tokens;
  char* const own_outputs = outputs_of(p, static_cast<int>(p.rank));
  const uint64_t* const peer_bases = reinterpret_cast<const uint64_t*>(p.peer_bases);
  const int64_t* const peer_slices = reinterpret_cast<const int64_t*>(p.peer_slices);
  const uint64_t* const recv_bases = reinterpret_cast<const uint64_t*>(p.recv_bases);
  const int* const plan = reinterpret_cast<const int*>(p.expert_plan);
  constexpr int kScaleBytes = kHidden / NUM_CHANNELS_PER_SCALE * 4;

  // Send: one warp per (token, k) entry, consecutive entries on different multiprocessors. A warp stores all
  // of its entries' rows (up to 32 at a time) before it counts any of them; then each lane holding one counts
  // it with an acquire-release add, all in one instruction, so the warp waits once for its stores to be
  // acknowledged instead of once per row (a release after NVLink stores stalls the warp for a round trip, and
  // with every warp at the same point that was a bubble on the link between each warp's rows). The lane whose
  // add completes an expert has thereby acquired every other row's release and publishes the count with a
  // system-scope release (DeepEP's finish counter, without a waiting warp). Every block sends by block 0's
  // plan, so an expert's stored-rows count reaches its expert_count exactly when the plan sends to its owner.
  const int num_entries = static_cast<int>(p.num_tokens * p.num_topk);
  const int num_topk = static_cast<int>(p.num_topk);
  const int* const topk_idx = reinterpret_cast<const int*>(p.topk_idx);
  const int* const entry_slot = reinterpret_cast<const int*>(p.entry_slot);
  const int* const expert_count = reinterpret_cast<const int*>(p.expert_count);
  int* const expert_done = reinterpret_cast<int*>(p.expert_done);
  // The experts of the rows stored since the last count, the latest in lane 31: each stored row shifts them
  // down a lane; they are counted once lane 0 holds one or the warp's last entry is stored.
  int counted_expert = -1;
  for (int entry = warp * gridDim.x + blockIdx.x; entry < num_entries; entry += gridDim.x * num_warps) {
    const int e = __ldg(topk_idx + entry);
    const int first_row = e < 0 ? -2 : plan[e];
    const int slot = e < 0 ? -1 : __ldg(entry_slot + entry);
    if (first_row != -2 && slot >= 0) {
      const int owner = e / num_local_experts;
      const int local_expert = e % num_local_experts;
      char* const peer = reinterpret_cast<char*>(peer_bases[owner]);
      const int64_t slice = peer_slices[owner];
      int* info;
      char* payload;
      char* scales;
      if (first_row >= 0) {
        char* const outputs = outputs_of(p, owner);
        const int64_t row = local_expert * rows_per_expert + first_row + slot;
        info = reinterpret_cast<int*>(outputs + p.out_src_info_offset) + row;
        payload = outputs + p.out_x_offset + row * (p.use_fp8 ? kHidden : kHidden * 2);
        scales = outputs + p.out_scales_offset + row * kScaleBytes;
      } else {
        char* const message = peer + p.recv_offset + local_expert * p.recv_expert_stride + slice * p.recv_rank_stride +
                              slot * p.recv_slot_stride;
        info = reinterpret_cast<int*>(message);
        payload = message + p.payload_offset;
        scales = message + p.scales_offset;
      }
      store_token<kHidden>(p, entry / num_topk, info, payload, scales, lane);
      counted_expert = __shfl_down_sync(0xffffffffu, counted_expert, 1);
      if (lane == 31) counted_expert = e;
    }
    if (entry + gridDim.x * num_warps >= num_entries || __shfl_sync(0xffffffffu, counted_expert, 0) >= 0) {
      __syncwarp();
      if (counted_expert >= 0) {
        const int ce = counted_expert;
        const int count = __ldg(expert_count + ce);
        if (atomic_add_acq_rel_gpu(expert_done + ce, 1) + 1 == count) {
          const int owner = ce / num_local_experts;
          const int plan_row = plan[ce];
          const uint64_t where = plan_row >= 0 ? (static_cast<uint64_t>(plan_row) << 32) | DISPATCH_IN_PLACE : 0;
          uint64_t* const counter =
              reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(peer_bases[owner]) + p.count_offset +
                                          (ce % num_local_experts) * p.count_expert_stride +
                                          peer_slices[owner] * p.count_rank_stride);
          // No fence before it: a release is cumulative, so this one carries every row the add acquired (the
          // other warps' rows through their acquire-release adds) to system scope, as DeepEP's finish counter
          // does; a fence.sc.sys before it only added a second system-wide fence to the last counter's path.
          st_release_sys(counter, (static_cast<uint64_t>(count) + 1) | where);
        }
      }
      counted_expert = -1;
      __syncwarp();
    }
  }
  // Experts this rank sends nothing still get their counter (1 = zero rows), one thread each.
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < num_ranks * num_local_experts;
       e += gridDim.x * blockDim.x) {
    const int owner = e / num_local_experts;
    if (plan[e] == -2 || __ldg(expert_count + e) != 0) continue;
    char* const peer = reinterpret_cast<char*>(peer_bases[owner]);
    st_release_sys(reinterpret_cast<uint64_t*>(peer + p.count_offset + (e % num_local_experts) * p.count_expert_stride +
                                               peer_slices[owner] * p.count_rank_stride),
                   1);
  }

  // Receive: one block per local expert; the layout packs rows by source rank as the CPU backend does.
  __shared__ int counts[NUM_MAX_SOURCE_RANKS];
  __shared__ int placed[NUM_MAX_SOURCE_RANKS];  // first packed row of rows stored in place, -1 = in the slots
  __shared__ int begins[NUM_MAX_SOURCE_RANKS + 1];
  __shared__ bool any_unplaced, any_misplaced;
  for (int local_expert = blockIdx.x; local_expert < num_local_experts; local_expert += gridDim.x) {
    for (int src = threadIdx.x; src < num_ranks; src += blockDim.x) {
      uint64_t value = 0;
      if (is_live(p, src)) {
        const uint64_t* signal = reinterpret_cast<const uint64_t*>(
            reinterpret_cast<const char*>(recv_bases[src]) + p.count_offset +
            local_expert * p.count_expert_stride + src * p.count_rank_stride);
        value = await_word<true>(p, signal, src, global_timer_ns() + static_cast<uint64_t>(p.timeout_ns));
      }
      counts[src] = value == 0 ? 0 : static_cast<int>((value & 0xffffffffull) - 1);
      placed[src] = (value & DISPATCH_IN_PLACE) != 0 ? static_cast<int>((value >> 32) & ((DISPATCH_IN_PLACE - 1) >> 32)) : -1;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int begin = 0;
      bool unplaced = false, misplaced = false;
      int64_t* const layout_range = reinterpret_cast<int64_t*>(p.layout_range) + local_expert * num_ranks;
      for (int src = 0; src < num_ranks; ++src) {
        begins[src] = begin;
        layout_range[src] = static_cast<int64_t>(counts[src]) | (static_cast<int64_t>(begin) << 32);
        if (counts[src] > 0 && placed[src] != begin) {
          unplaced = true;
          misplaced |= placed[src] >= 0;
        }
        begin += counts[src];
      }
      reinterpret_cast<int*>(p.recv_count)[local_expert] = begin;
      begins[num_ranks] = begin;
      any_unplaced = unplaced;
      any_misplaced = misplaced;
    }
    __syncthreads();
    const int total = begins[num_ranks];
    const int64_t expert_row = local_expert * rows_per_expert;
    // Rows in place at another row than the layout's (a source before them was masked mid-call) go out to their
    // receive slots first (phase 0), as no packing store may land on a row not yet read; then every row not in
    // place is packed from its slot (phase 1).
    for (int phase = any_misplaced ? 0 : 1; phase < (any_unplaced ? 2 : 1); ++phase) {
      for (int row = warp; row < total; row += num_warps) {
        int src = 0;
        while (begins[src + 1] <= row) ++src;
        if (placed[src] == begins[src] || (phase == 0 && placed[src] < 0)) continue;
        const int slot = row - begins[src];
        // Plain loads: the counter's acquire (this block, before the barrier above) orders them after the rows.
        char* message = reinterpret_cast<char*>(recv_bases[src]) + p.recv_offset + local_expert * p.recv_expert_stride +
                        src * p.recv_rank_stride + slot * p.recv_slot_stride;
        copy_row<kHidden>(p, own_outputs, expert_row + (phase == 0 ? placed[src] + slot : row), message, phase == 1, lane);
      }
      __syncthreads();
      if (phase == 0) {
        for (int src = threadIdx.x; src < num_ranks; src += blockDim.x) {
          if (placed[src] != begins[src]) placed[src] = -1;
        }
        __syncthreads();
      }
    }
    __syncthreads();
  }
}

}  // namespace elasticmoe

#define EMOE_DEFINE_DISPATCH(H)                                                                         \
  extern "C" __global__ void __launch_bounds__(NUM_DISPATCH_THREADS, 1)                                 \
      dispatch_ll_h##H(const __grid_constant__ elasticmoe::LowLatencyParams p) {                        \
    elasticmoe::dispatch<H>(p);                                                                         \
  }
EMOE_FOR_EACH_HIDDEN(EMOE_DEFINE_DISPATCH)
