// Every limit of the kernels in one place (DeepEP csrc/kernels/configs.cuh). Each value mirrors a Java
// constant in io.elasticmoe.worker.runtime.DispatchLayout (named in the comment); KernelConfigsTest parses
// this file and fails when the two drift apart.
#pragma once

// DispatchLayout.MAX_TOPK: most experts one token may select (DeepEP/NIXL-EP kNumMaxTopK).
#define NUM_MAX_TOPK 16
// DispatchLayout.MAX_TOKENS_PER_RANK: NIXL-EP's finish-tag constant.
#define NUM_MAX_DISPATCH_TOKENS 1024
// DispatchLayout.ALIGNMENT_BYTES: every buffer region starts on this boundary.
#define NUM_BUFFER_ALIGNMENT_BYTES 128
// DispatchLayout.CHANNELS_PER_SCALE: channels sharing one fp8 scale.
#define NUM_CHANNELS_PER_SCALE 128
// DispatchLayout.HIDDEN_ALIGNMENT and FP8_HIDDEN_ALIGNMENT.
#define NUM_HIDDEN_ALIGNMENT 128
#define NUM_FP8_HIDDEN_ALIGNMENT 512
// DispatchLayout.RECV_ROWS_ALIGNMENT: R_b·N must be a multiple of this.
#define NUM_RECV_ROWS_ALIGNMENT 4
// DispatchLayout.DISPATCH_HEADER_BYTES, SIGNAL_BYTES, NUM_BUFFERS.
#define NUM_DISPATCH_HEADER_BYTES 16
#define NUM_SIGNAL_BYTES 8
#define NUM_BUFFERS 2
// Fp8Codec.FP8_MAX and AMAX_FLOOR: E4M3 saturation bound and the smallest amax a scale is built from.
#define FP8_MAX 448.0f
#define FP8_AMAX_FLOOR 1e-4f
// DispatchLayout.COMBINE_FLAG_TAG: set in every combine flag. One signal region serves a buffer's dispatch counts
// and its combine flags, at indices that coincide (count(e_l, src) and flag(expert) share words), so the host
// staging proxy tells a flag from a count by this bit; dispatch counts (at most N + 1) never have it.
#define COMBINE_FLAG_TAG 0x4000000000000000ull
// DispatchLayout.DISPATCH_IN_PLACE: set in a dispatch count whose rows the sender stored in the owner's packed
// outputs, from the row in bits 32..60 (DispatchCountWord); never in a combine flag, never in a staged count.
#define DISPATCH_IN_PLACE 0x2000000000000000ull
// DispatchLayout.LIVE_SET_RANKS_PER_WORD and LIVE_SET_PUBLISHED: a live-set word of the dispatch exchange holds
// 32 ranks' bits and a marker, so an empty set still reads as published.
#define NUM_LIVE_SET_RANKS_PER_WORD 32
#define LIVE_SET_PUBLISHED 0x100000000ull
// CudaDispatchBackend.MAX_TIMEOUT_MILLIS: the longest a kernel spins on one peer's signal before masking it.
#define NUM_MAX_TIMEOUT_MILLIS 60000
