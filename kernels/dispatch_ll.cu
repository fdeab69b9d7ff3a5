// Low-latency dispatch (DESIGN §6), one launch in two phases around a grid barrier:
//  1. prepare: casts every token once into its send slot (fp8 per 128 channels, or bf16); eight warps per
//     expert number the (token, k) entries bound for each expert in (token, k) order, which fixes every slot
//     before any byte moves, so slot numbers (hence recv_x rows) equal the CPU backend's bit for bit (DeepEP's
//     atomicAdd slots would not); and clears the other buffer's signals (here and in the receive mirror), so
//     the clear is complete before this call emits any signal, as double buffering requires.
//  2. send and receive: one warp per (token, k) entry, spread over the whole grid (as DeepEP's LL dispatch),
//     stores the token into the owner's recv[e_l][rank][slot] (a peer's memory through its CUDA IPC mapping, or
//     our own); the warp that stores an expert's last row publishes count+1 with a system-scope release, after
//     an acquire-release count of the expert's stored rows. Then one block per local expert waits for every live
//     source's counter (timeout -> mask), packs the rows by source rank and writes recv_count, src_info and
//     layout_range.
// (Two launches and a host memset before them cost 10 us at 128 tokens on an H200: the barrier replaces them.)
// A staged (other-node) owner is written through the same code with other table entries: peer_bases points
// at the pinned host staging mirror and peer_slices names the owner, so the tokens land in the mirror's
// recv[e_l][owner][slot] and count(e_l, owner), which the host proxy forwards (data, flush, counter) into
// the owner's receive mirror at recv[e_l][rank][slot]. A staged source's counter and rows are read from our
// receive mirror (recv_bases), the counter with a system-scope acquire, so the rows after it are current.
#include "api.cuh"
#include "utils.cuh"

namespace elasticmoe {

template <int kHidden>
__device__ __forceinline__ void dispatch_prepare(const LowLatencyParams& p) {
  constexpr int kNumScales = kHidden / NUM_CHANNELS_PER_SCALE;
  const int lane = threadIdx.x % 32;
  const int warps_per_block = blockDim.x / 32;
  const int warp = blockIdx.x * warps_per_block + threadIdx.x / 32;
  const int num_warps = gridDim.x * warps_per_block;
  const int num_tokens = static_cast<int>(p.num_tokens);
  const int num_topk = static_cast<int>(p.num_topk);
  const int num_experts = static_cast<int>(p.num_ranks * p.num_local_experts);
  const int max_tokens = static_cast<int>(p.max_tokens);
  char* const base = reinterpret_cast<char*>(p.local_base);
  const __nv_bfloat16* const x = reinterpret_cast<const __nv_bfloat16*>(p.x);
  const int* const topk_idx = reinterpret_cast<const int*>(p.topk_idx);

  // Slots: kScanSegments warps of a block share an expert, each owning one contiguous segment of the
  // (token, k) entries. A first pass counts the expert's entries in each segment; after the block barrier a
  // warp starts numbering at the sum of the segments before its own, in (token, k) order. (One warp per
  // expert scanning every entry made 1024 tokens x top-8 a chain of 256 ballots per warp: ~40 us.) The first
  // segment's warp also zeroes the expert's stored-rows count for the send phase.
  constexpr int kScanSegments = 8;
  static_assert(NUM_DISPATCH_THREADS / 32 % kScanSegments == 0, "a block holds whole experts' segment warps");
  const int num_entries = num_tokens * num_topk;
  int* const entry_slot = reinterpret_cast<int*>(p.entry_slot);
  const int block_warp = threadIdx.x / 32;
  const int segment = block_warp % kScanSegments;
  const int experts_per_round = warps_per_block / kScanSegments;
  const int segment_entries = ((num_entries + kScanSegments - 1) / kScanSegments + 31) / 32 * 32;
  const int segment_begin = min(segment * segment_entries, num_entries);
  const int segment_end = min(segment_begin + segment_entries, num_entries);
  __shared__ int segment_hits[NUM_DISPATCH_THREADS / 32];
  // Block-uniform loop: every warp reaches both barriers, also those whose expert is past the last.
  for (int first = blockIdx.x * experts_per_round; first < num_experts; first += gridDim.x * experts_per_round) {
    const int e = first + block_warp / kScanSegments;
    int hits = 0;
    if (e < num_experts) {
#pragma unroll 8
      for (int entry = segment_begin + lane; entry < segment_end; entry += 32) hits += __ldg(topk_idx + entry) == e;
      hits = warp_reduce_sum(hits);
    }
    if (lane == 0) segment_hits[block_warp] = hits;
    __syncthreads();
    if (e < num_experts) {
      int slot = 0;
      int total = 0;
      for (int s = 0; s < kScanSegments; ++s) {
        const int segment_count = segment_hits[block_warp - segment + s];
        slot += s < segment ? segment_count : 0;
        total += segment_count;
      }
#pragma unroll 4
      for (int first_entry = segment_begin; first_entry < segment_end; first_entry += 32) {
        const int entry = first_entry + lane;
        const bool hit = entry < segment_end && __ldg(topk_idx + entry) == e;
        const unsigned hit_lanes = __ballot_sync(0xffffffffu, hit);
        const int entry_slot_value = slot + __popc(hit_lanes & ((1u << lane) - 1u));
        // A token naming one expert twice could overflow N slots; DispatchInputCheck bounds tokens by N.
        if (hit) entry_slot[entry] = entry_slot_value < max_tokens ? entry_slot_value : -1;
        slot += __popc(hit_lanes);
      }
      if (segment == 0 && lane == 0) {
        reinterpret_cast<int*>(p.expert_count)[e] = min(total, max_tokens);
        reinterpret_cast<int*>(p.expert_done)[e] = 0;
      }
    }
    __syncthreads();  // segment_hits is written again in the next round
  }

  // Cast: one warp per (token, 128-channel group); a lane holds 4 channels. kCastUnroll groups' loads are
  // issued before the first reduction, so a warp's strided items do not pay the load latency one by one.
  constexpr int kCastUnroll = 4;
  const int num_items = num_tokens * kNumScales;
  for (int first = warp; first < num_items; first += num_warps * kCastUnroll) {
    uint2 raw[kCastUnroll];
#pragma unroll
    for (int u = 0; u < kCastUnroll; ++u) {
      const int item = first + u * num_warps;
      const int t = item / kNumScales;
      const int channel = (item % kNumScales) * NUM_CHANNELS_PER_SCALE + lane * 4;
      raw[u] = item < num_items
                   ? __ldg(reinterpret_cast<const uint2*>(x + static_cast<int64_t>(t) * kHidden + channel))
                   : make_uint2(0, 0);
    }
#pragma unroll
    for (int u = 0; u < kCastUnroll; ++u) {
      const int item = first + u * num_warps;
      if (item >= num_items) break;  // warp-uniform
      const int t = item / kNumScales;
      const int group = item % kNumScales;
      const int channel = group * NUM_CHANNELS_PER_SCALE + lane * 4;
      char* const slot = base + p.send_offset + t * p.send_slot_stride;
      if (group == 0 && lane == 0) *reinterpret_cast<int*>(slot) = t;
      if (!p.use_fp8) {
        *reinterpret_cast<uint2*>(slot + p.payload_offset + channel * 2) = raw[u];
        continue;
      }
      const __nv_bfloat162* pair = reinterpret_cast<const __nv_bfloat162*>(&raw[u]);
      const float2 lo = __bfloat1622float2(pair[0]);
      const float2 hi = __bfloat1622float2(pair[1]);
      float amax = fmaxf(fmaxf(fabsf(lo.x), fabsf(lo.y)), fmaxf(fabsf(hi.x), fabsf(hi.y)));
      amax = fmaxf(warp_reduce_max(amax), FP8_AMAX_FLOOR);
      // Same float operations as Fp8Codec.scale/scaleInv, so the codes and scales match the CPU backend.
      float scale, scale_inv;
      if (p.round_scale) {
        const int exponent = ceil_log2(amax * (1.0f / FP8_MAX));
        scale = exp2_int(-exponent);
        scale_inv = exp2_int(exponent);
      } else {
        scale = __fdiv_rn(FP8_MAX, amax);
        scale_inv = __fmul_rn(amax, 1.0f / FP8_MAX);
      }
      const __nv_fp8x2_storage_t c0 = __nv_cvt_float2_to_fp8x2(
          make_float2(__fmul_rn(lo.x, scale), __fmul_rn(lo.y, scale)), __NV_SATFINITE, __NV_E4M3);
      const __nv_fp8x2_storage_t c1 = __nv_cvt_float2_to_fp8x2(
          make_float2(__fmul_rn(hi.x, scale), __fmul_rn(hi.y, scale)), __NV_SATFINITE, __NV_E4M3);
      *reinterpret_cast<uint32_t*>(slot + p.payload_offset + channel) =
          static_cast<uint32_t>(c0) | (static_cast<uint32_t>(c1) << 16);
      if (lane == 0) *reinterpret_cast<float*>(slot + p.scales_offset + group * 4) = scale_inv;
    }
  }
}

__device__ __forceinline__ bool is_live(const LowLatencyParams& p, int rank) {
  return ld_volatile(reinterpret_cast<const int*>(p.mask) + rank) == 0 &&
         reinterpret_cast<const uint64_t*>(p.peer_bases)[rank] != 0;
}

// Spins until the signal is non-zero; a peer that stays silent past the timeout is masked (sticky).
// Returns the signal, or 0 when the source is not live.
__device__ __forceinline__ uint64_t await_signal(const LowLatencyParams& p, const uint64_t* signal, int src) {
  const uint64_t start = global_timer_ns();
  int* const mask = reinterpret_cast<int*>(p.mask);
  while (true) {
    const uint64_t value = ld_acquire_sys(signal);
    if (value != 0) return value;
    if (ld_volatile(mask + src) != 0) return 0;
    if (global_timer_ns() - start > static_cast<uint64_t>(p.timeout_ns)) {
      atomicExch(mask + src, 1);
      return 0;
    }
  }
}

// Zeroes the other buffer's signal region, in our buffer and (staged sources) in the receive mirror.
__device__ __forceinline__ void clear_next_signals(const LowLatencyParams& p) {
  uint64_t* const local = reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(p.local_base) + p.next_signal_offset);
  uint64_t* const mirror =
      p.recv_mirror == 0 ? nullptr : reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(p.recv_mirror) + p.next_signal_offset);
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < p.signal_bytes / 8; i += gridDim.x * blockDim.x) {
    local[i] = 0;
    if (mirror != nullptr) mirror[i] = 0;
  }
}

template <int kHidden>
__device__ __forceinline__ void dispatch(const LowLatencyParams& p) {
  dispatch_prepare<kHidden>(p);
  clear_next_signals(p);
  grid_sync(reinterpret_cast<uint64_t*>(p.grid_barrier));

  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int num_warps = blockDim.x / 32;
  const int num_ranks = static_cast<int>(p.num_ranks);
  const int num_local_experts = static_cast<int>(p.num_local_experts);
  const int max_tokens = static_cast<int>(p.max_tokens);
  char* const base = reinterpret_cast<char*>(p.local_base);
  const uint64_t* const peer_bases = reinterpret_cast<const uint64_t*>(p.peer_bases);
  const int64_t* const peer_slices = reinterpret_cast<const int64_t*>(p.peer_slices);
  const uint64_t* const recv_bases = reinterpret_cast<const uint64_t*>(p.recv_bases);
  const int64_t message_bytes =
      p.payload_offset + (p.use_fp8 ? kHidden + kHidden / NUM_CHANNELS_PER_SCALE * 4 : kHidden * 2);

  // Liveness of every owner, read once per block: all warps of a block agree on which owners they skip, so
  // an expert's stored-rows count reaches its expert_count exactly when its owner is live.
  __shared__ bool owner_live[NUM_MAX_SOURCE_RANKS];
  for (int r = threadIdx.x; r < num_ranks; r += blockDim.x) owner_live[r] = is_live(p, r);
  __syncthreads();

  // Send: one warp per (token, k) entry, consecutive entries on different multiprocessors. After its row,
  // lane 0 counts it with an acquire-release add; the warp that stores the expert's last row has thereby
  // acquired every other row's release and publishes count+1 with a system-scope release (DeepEP's finish
  // counter, without a waiting warp).
  const int num_entries = static_cast<int>(p.num_tokens * p.num_topk);
  const int num_topk = static_cast<int>(p.num_topk);
  const int* const topk_idx = reinterpret_cast<const int*>(p.topk_idx);
  const int* const entry_slot = reinterpret_cast<const int*>(p.entry_slot);
  const int* const expert_count = reinterpret_cast<const int*>(p.expert_count);
  int* const expert_done = reinterpret_cast<int*>(p.expert_done);
  for (int entry = warp * gridDim.x + blockIdx.x; entry < num_entries; entry += gridDim.x * num_warps) {
    const int e = __ldg(topk_idx + entry);
    if (e < 0) continue;
    const int owner = e / num_local_experts;
    const int slot = __ldg(entry_slot + entry);
    if (!owner_live[owner] || slot < 0) continue;
    const int local_expert = e % num_local_experts;
    char* const peer = reinterpret_cast<char*>(peer_bases[owner]);
    const int64_t slice = peer_slices[owner];
    const int t = entry / num_topk;
    warp_copy(peer + p.recv_offset + local_expert * p.recv_expert_stride + slice * p.recv_rank_stride +
                  slot * p.recv_slot_stride,
              base + p.send_offset + t * p.send_slot_stride, message_bytes, lane);
    __syncwarp();
    if (lane == 0) {
      const int count = __ldg(expert_count + e);
      if (atomic_add_acq_rel_gpu(expert_done + e, 1) + 1 == count) {
        __threadfence_system();
        st_release_sys(reinterpret_cast<uint64_t*>(peer + p.count_offset + local_expert * p.count_expert_stride +
                                                   slice * p.count_rank_stride),
                       static_cast<uint64_t>(count) + 1);
      }
    }
  }
  // Experts this rank sends nothing still get their counter (1 = zero rows), one thread each.
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < num_ranks * num_local_experts;
       e += gridDim.x * blockDim.x) {
    const int owner = e / num_local_experts;
    if (!owner_live[owner] || __ldg(expert_count + e) != 0) continue;
    char* const peer = reinterpret_cast<char*>(peer_bases[owner]);
    st_release_sys(reinterpret_cast<uint64_t*>(peer + p.count_offset + (e % num_local_experts) * p.count_expert_stride +
                                               peer_slices[owner] * p.count_rank_stride),
                   1);
  }

  // Receive: one block per local expert; rows packed by source rank as the CPU backend packs them.
  __shared__ int counts[NUM_MAX_SOURCE_RANKS];
  __shared__ int begins[NUM_MAX_SOURCE_RANKS + 1];
  const int64_t rows_per_expert = static_cast<int64_t>(num_ranks) * max_tokens;
  for (int local_expert = blockIdx.x; local_expert < num_local_experts; local_expert += gridDim.x) {
    for (int src = threadIdx.x; src < num_ranks; src += blockDim.x) {
      int count = 0;
      if (is_live(p, src)) {
        const uint64_t* signal = reinterpret_cast<const uint64_t*>(
            reinterpret_cast<const char*>(recv_bases[src]) + p.count_offset +
            local_expert * p.count_expert_stride + src * p.count_rank_stride);
        const uint64_t value = await_signal(p, signal, src);
        count = value == 0 ? 0 : static_cast<int>(value - 1);
      }
      counts[src] = count;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int begin = 0;
      int64_t* const layout_range = reinterpret_cast<int64_t*>(p.layout_range) + local_expert * num_ranks;
      for (int src = 0; src < num_ranks; ++src) {
        begins[src] = begin;
        layout_range[src] = static_cast<int64_t>(counts[src]) | (static_cast<int64_t>(begin) << 32);
        begin += counts[src];
      }
      reinterpret_cast<int*>(p.recv_count)[local_expert] = begin;
      begins[num_ranks] = begin;
    }
    __syncthreads();
    const int total = begins[num_ranks];
    for (int row = warp; row < total; row += num_warps) {
      int src = 0;
      while (begins[src + 1] <= row) ++src;
      const int slot = row - begins[src];
      // Plain loads: the counter's acquire (this block, before the barrier above) orders them after the rows.
      const char* message = reinterpret_cast<const char*>(recv_bases[src]) + p.recv_offset +
                            local_expert * p.recv_expert_stride + src * p.recv_rank_stride +
                            slot * p.recv_slot_stride;
      const int64_t out_row = local_expert * rows_per_expert + row;
      if (lane == 0) reinterpret_cast<int*>(p.src_info)[out_row] = *reinterpret_cast<const int*>(message);
      if (p.use_fp8) {
        warp_copy(reinterpret_cast<char*>(p.recv_x) + out_row * kHidden, message + p.payload_offset, kHidden, lane);
        constexpr int kScaleBytes = kHidden / NUM_CHANNELS_PER_SCALE * 4;
        warp_copy(reinterpret_cast<char*>(p.recv_scales) + out_row * kScaleBytes, message + p.scales_offset,
                  kScaleBytes, lane);
      } else {
        warp_copy(reinterpret_cast<char*>(p.recv_x) + out_row * kHidden * 2, message + p.payload_offset,
                  kHidden * 2, lane);
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
