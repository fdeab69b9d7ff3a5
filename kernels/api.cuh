// The extern "C" entry points KernelLibrary looks up by name (DeepEP csrc/kernels/api.cuh). Template
// instances carry their size in the name: dispatch_ll_h7168 is the dispatch kernel for hidden = 7168.
// Every kernel takes one LowLatencyParams by value; all offsets and strides in it come from the Java
// DispatchLayout, and kernels only add multiples of them to a base (they never recompute the layout).
#pragma once

#include <cstdint>

#include "configs.cuh"
#include "launch.cuh"

namespace elasticmoe {

// Field order and widths are mirrored byte for byte by KernelLibrary.LowLatencyParams (all 8 bytes).
struct LowLatencyParams {
  // Device pointers.
  uint64_t local_base;    // this rank's DispatchLayout buffer
  uint64_t peer_bases;    // uint64_t[max_ranks]: where this rank writes each destination's messages: the peer's
                          // buffer through CUDA IPC, our own buffer, or the staging mirror (pinned host) for a
                          // staged (other-node) peer; 0 = unreachable
  uint64_t peer_slices;   // int64_t[max_ranks]: the rank index those writes use in DispatchLayout offsets: this
                          // rank in a peer's buffer; the destination in the staging mirror, which holds every
                          // staged destination's messages side by side
  uint64_t recv_bases;    // uint64_t[max_ranks]: where signals and rows from each source are read: this rank's
                          // buffer, or the receive mirror (pinned host) a staged source's proxy puts into
  uint64_t mask;          // int32_t[max_ranks]: 1 = not live (masked or disconnected); kernels set it on timeout
  uint64_t x;             // dispatch: bf16 [T, H]; combine: y bf16 [E_l, R_b·N, H]
  uint64_t topk_idx;      // int32 [T, K]
  uint64_t topk_weights;  // combine: fp32 [T, K]
  uint64_t recv_x;        // dispatch: fp8 or bf16 [E_l, R_b·N, H]; combine: bf16 out [T, H]
  uint64_t recv_scales;   // fp32 [E_l, R_b·N, S]
  uint64_t recv_count;    // int32 [E_l]
  uint64_t src_info;      // int32 [E_l, R_b·N]
  uint64_t layout_range;  // int64 [E_l, R_b]: count | begin << 32
  uint64_t expert_count;  // scratch int32 [R_b·E_l]: tokens this rank sends to each expert
  uint64_t entry_slot;    // scratch int32 [N, NUM_MAX_TOPK]: (token, k) -> slot at its expert, -1 = not sent
  uint64_t expert_done;   // scratch int32 [R_b·E_l]: rows of each expert stored so far in this call
  uint64_t grid_barrier;  // uint64: arrivals at dispatch's grid barrier, only ever incremented (grid_sync)
  uint64_t recv_mirror;   // the receive mirror (pinned host) whose next signals dispatch clears too; 0 = none
  uint64_t peer_outputs;  // uint64_t[max_ranks]: each rank's dispatch-output block (DispatchLayout) through CUDA
                          // IPC, ours for this rank; 0 = not IPC-reachable (staged or unconnected)
  uint64_t expert_plan;   // scratch int32 [R_b·E_l]: where this call stores its rows for each expert: the first
                          // packed row in the owner's outputs, -1 = the owner's receive slots, -2 = owner not live
  // Byte offsets and strides from DispatchLayout for the buffer index of this call.
  int64_t recv_offset, recv_expert_stride, recv_rank_stride, recv_slot_stride;
  int64_t count_offset, count_expert_stride, count_rank_stride;
  int64_t payload_offset, scales_offset;
  int64_t combine_recv_offset, combine_expert_stride, combine_token_stride;
  int64_t flag_offset, flag_stride;
  int64_t next_signal_offset, signal_bytes;  // the other buffer's signal region, cleared by dispatch
  // Offsets in a dispatch-output block (peer_outputs) for the buffer index of this call.
  int64_t live_set_offset, live_set_rank_stride;
  int64_t count_vector_offset, count_vector_rank_stride;
  int64_t out_x_offset, out_scales_offset, out_src_info_offset;
  int64_t next_exchange_offset, exchange_bytes;  // the other buffer's exchange region, cleared by dispatch
  // Sizes of this step.
  int64_t rank, num_ranks, num_local_experts, max_tokens, num_tokens, num_topk;
  int64_t use_fp8, round_scale, timeout_ns;
  int64_t exchange_wait_ns;  // the longest dispatch waits for a peer's live set or counts before storing in slots
};

}  // namespace elasticmoe

#define EMOE_DECLARE_LL(H)                                                                    \
  extern "C" __global__ void dispatch_ll_h##H(const __grid_constant__ elasticmoe::LowLatencyParams p);         \
  extern "C" __global__ void combine_ll_h##H(const __grid_constant__ elasticmoe::LowLatencyParams p);
EMOE_FOR_EACH_HIDDEN(EMOE_DECLARE_LL)
#undef EMOE_DECLARE_LL

// The peer-write ceiling: stores `bytes` from src (local) into dst (a CUDA-IPC-mapped peer buffer).
extern "C" __global__ void peer_write_ceiling(uint64_t dst, uint64_t src, int64_t bytes);
