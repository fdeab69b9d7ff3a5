// Low-latency combine (DESIGN §6), one launch:
//  1. send: one block per local expert returns every received row of y to recv[global expert][source
//     token] of the rank it came from (through that rank's CUDA IPC mapping), then sets the per-expert flag
//     there with a system-scope release;
//  2. reduce: one warp per (token, 256 channels) waits for the flags of the token's experts (timeout ->
//     mask) and computes out[t] = sum_k w[t,k] * y_k[t] in fp32 over selections whose owner is live, in k
//     order with separately rounded multiply and add (no FMA), as CpuDispatchBackend does, then rounds to
//     bf16. Weights of dropped experts are not renormalised;
//  3. block 0 then waits for the flags of every expert of every live owner, selected or not (DeepEP's combine
//     waits for all experts too), so this call ends only after every live peer has started it: a peer's
//     clear of its next buffer (stream-ordered before its kernels) then always precedes our next call's
//     writes into that buffer, and all our writes of this call have reached the peer before it clears
//     the buffer they used, however late a host proxy delivers them.
// A staged (other-node) source is written through peer_bases = the staging mirror at expert index
// peer_slices[src]·E_l + e_l (side by side per destination); the flag's value is COMBINE_FLAG_TAG | (1 + the
// span of token rows written, highest token + 1), so the proxy forwards only that prefix of the expert's rows
// and never mistakes the flag for a dispatch count sharing its word.
// Flags and rows of a staged owner are read from the receive mirror (recv_bases).
// The grid never exceeds the multiprocessor count, so every block is resident and a block that waits
// never starves one that still has to send.
#include "api.cuh"
#include "utils.cuh"

namespace elasticmoe {

__device__ __forceinline__ bool combine_live(const LowLatencyParams& p, int rank) {
  return ld_volatile(reinterpret_cast<const int*>(p.mask) + rank) == 0 &&
         reinterpret_cast<const uint64_t*>(p.peer_bases)[rank] != 0;
}

template <int kHidden>
__device__ __forceinline__ void combine(const LowLatencyParams& p) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int num_warps = blockDim.x / 32;
  const int num_ranks = static_cast<int>(p.num_ranks);
  const int num_local_experts = static_cast<int>(p.num_local_experts);
  const int64_t rows_per_expert = static_cast<int64_t>(num_ranks) * p.max_tokens;
  const uint64_t* const peer_bases = reinterpret_cast<const uint64_t*>(p.peer_bases);
  const int64_t* const peer_slices = reinterpret_cast<const int64_t*>(p.peer_slices);
  const uint64_t* const recv_bases = reinterpret_cast<const uint64_t*>(p.recv_bases);
  const char* const y = reinterpret_cast<const char*>(p.x);
  const int64_t* const layout_range = reinterpret_cast<const int64_t*>(p.layout_range);
  const int* const src_info = reinterpret_cast<const int*>(p.src_info);

  // Per source: highest token index + 1 this block returned (the flag value's span).
  __shared__ int spans[NUM_MAX_SOURCE_RANKS];
  for (int local_expert = blockIdx.x; local_expert < num_local_experts; local_expert += gridDim.x) {
    for (int src = threadIdx.x; src < num_ranks; src += blockDim.x) spans[src] = 0;
    __syncthreads();
    for (int src = 0; src < num_ranks; ++src) {
      if (!combine_live(p, src)) continue;
      const int64_t range = layout_range[local_expert * num_ranks + src];
      const int count = static_cast<int>(range & 0xffffffff);
      const int begin = static_cast<int>(range >> 32);
      const int64_t expert = peer_slices[src] * num_local_experts + local_expert;
      char* const dst = reinterpret_cast<char*>(peer_bases[src]) + p.combine_recv_offset +
                        expert * p.combine_expert_stride;
      // kRowSplit warps share a row, so a block with few rows still keeps all its warps storing.
      constexpr int kRowSplit = 4;
      constexpr int64_t kPartBytes = kHidden * 2 / kRowSplit;
      for (int i = warp; i < count * kRowSplit; i += num_warps) {
        const int64_t row = local_expert * rows_per_expert + begin + i / kRowSplit;
        const int64_t part = (i % kRowSplit) * kPartBytes;
        const int token = __ldg(src_info + row);
        warp_copy(dst + token * p.combine_token_stride + part, y + row * kHidden * 2 + part, kPartBytes, lane);
        if (lane == 0) atomicMax(&spans[src], token + 1);
      }
    }
    __syncthreads();
    // One thread per source publishes this expert's flag after all of the block's rows.
    for (int src = threadIdx.x; src < num_ranks; src += blockDim.x) {
      if (!combine_live(p, src)) continue;
      const int64_t expert = peer_slices[src] * num_local_experts + local_expert;
      __threadfence_system();
      st_release_sys(reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(peer_bases[src]) + p.flag_offset +
                                                 expert * p.flag_stride),
                     (static_cast<uint64_t>(spans[src]) + 1) | COMBINE_FLAG_TAG);
    }
    __syncthreads();  // spans is reset for the next expert only after every flag has read it
  }

  constexpr int kSlices = (kHidden + NUM_COMBINE_CHANNELS_PER_WARP - 1) / NUM_COMBINE_CHANNELS_PER_WARP;
  const int num_topk = static_cast<int>(p.num_topk);
  const int* const topk_idx = reinterpret_cast<const int*>(p.topk_idx);
  const float* const topk_weights = reinterpret_cast<const float*>(p.topk_weights);
  int* const mask = reinterpret_cast<int*>(p.mask);
  const int num_items = static_cast<int>(p.num_tokens) * kSlices;
  for (int item = blockIdx.x * num_warps + warp; item < num_items; item += gridDim.x * num_warps) {
    const int t = item / kSlices;
    const int channel = (item % kSlices) * NUM_COMBINE_CHANNELS_PER_WARP + lane * 8;
    // Lane k waits for selection k's flag; the ballot says which selections take part.
    bool valid = false;
    if (lane < num_topk) {
      const int e = __ldg(topk_idx + t * num_topk + lane);
      if (e >= 0) {
        const int owner = e / num_local_experts;
        if (combine_live(p, owner)) {
          const uint64_t* flag = reinterpret_cast<const uint64_t*>(
              reinterpret_cast<const char*>(recv_bases[owner]) + p.flag_offset + e * p.flag_stride);
          const uint64_t start = global_timer_ns();
          while (true) {
            if (ld_acquire_sys(flag) != 0) { valid = true; break; }
            if (ld_volatile(mask + owner) != 0) break;
            if (global_timer_ns() - start > static_cast<uint64_t>(p.timeout_ns)) {
              atomicExch(mask + owner, 1);
              break;
            }
          }
          // Another warp may have masked the owner after this flag arrived: leave it out, as the CPU does.
          valid = valid && ld_volatile(mask + owner) == 0;
        }
      }
    }
    const unsigned selected = __ballot_sync(0xffffffffu, valid);
    if (channel >= kHidden) continue;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    // kLoadBatch selections' rows are loaded before the first is summed (the loads are independent; only the
    // sum is ordered), then summed in k order.
    constexpr int kLoadBatch = 8;
    for (int k0 = 0; k0 < num_topk; k0 += kLoadBatch) {
      int4 raw[kLoadBatch];
      float w[kLoadBatch];
#pragma unroll
      for (int u = 0; u < kLoadBatch; ++u) {
        const int k = k0 + u;
        w[u] = 0;
        if (k < num_topk && (selected >> k & 1u)) {
          const int e = __ldg(topk_idx + t * num_topk + k);
          w[u] = __ldg(topk_weights + t * num_topk + k);
          // A plain load after lane k's acquire of flag k: the ballot waited for it, and the acquire invalidated L1.
          raw[u] = *reinterpret_cast<const int4*>(reinterpret_cast<const char*>(recv_bases[e / num_local_experts]) +
                                                  p.combine_recv_offset + e * p.combine_expert_stride +
                                                  t * p.combine_token_stride + channel * 2);
        }
      }
#pragma unroll
      for (int u = 0; u < kLoadBatch; ++u) {
        const int k = k0 + u;
        if (!(k < num_topk && (selected >> k & 1u))) continue;
        const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw[u]);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float2 v = __bfloat1622float2(pairs[j]);
          acc[2 * j] = __fadd_rn(acc[2 * j], __fmul_rn(w[u], v.x));
          acc[2 * j + 1] = __fadd_rn(acc[2 * j + 1], __fmul_rn(w[u], v.y));
        }
      }
    }
    int4 out;
    __nv_bfloat162* out_pairs = reinterpret_cast<__nv_bfloat162*>(&out);
#pragma unroll
    for (int j = 0; j < 4; ++j) out_pairs[j] = __floats2bfloat162_rn(acc[2 * j], acc[2 * j + 1]);
    *reinterpret_cast<int4*>(reinterpret_cast<char*>(p.recv_x) + (static_cast<int64_t>(t) * kHidden + channel) * 2) =
        out;
  }

  // Every live owner's flags, selected or not (see the header): the kernel ends only once all have arrived.
  if (blockIdx.x == 0) {
    for (int e = threadIdx.x; e < num_ranks * num_local_experts; e += blockDim.x) {
      const int owner = e / num_local_experts;
      if (!combine_live(p, owner)) continue;
      const uint64_t* flag = reinterpret_cast<const uint64_t*>(
          reinterpret_cast<const char*>(recv_bases[owner]) + p.flag_offset + e * p.flag_stride);
      const uint64_t start = global_timer_ns();
      while (ld_acquire_sys(flag) == 0) {
        if (ld_volatile(mask + owner) != 0) break;
        if (global_timer_ns() - start > static_cast<uint64_t>(p.timeout_ns)) {
          atomicExch(mask + owner, 1);
          break;
        }
      }
    }
  }
}

}  // namespace elasticmoe

#define EMOE_DEFINE_COMBINE(H)                                                   \
  extern "C" __global__ void __launch_bounds__(NUM_COMBINE_THREADS, 1)           \
      combine_ll_h##H(const __grid_constant__ elasticmoe::LowLatencyParams p) {  \
    elasticmoe::combine<H>(p);                                                   \
  }
EMOE_FOR_EACH_HIDDEN(EMOE_DEFINE_COMBINE)
