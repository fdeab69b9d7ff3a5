// PTX wrappers for the memory orderings the LL protocol needs (DeepEP csrc/kernels/utils.cuh). Peers
// write our buffer over NVLink, so signals are published and read at system scope.
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp8.h>

namespace elasticmoe {

__device__ __forceinline__ uint64_t ld_acquire_sys(const uint64_t* ptr) {
  uint64_t value;
  asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(value) : "l"(ptr) : "memory");
  return value;
}

__device__ __forceinline__ uint32_t ld_acquire_sys(const uint32_t* ptr) {
  uint32_t value;
  asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(value) : "l"(ptr) : "memory");
  return value;
}

__device__ __forceinline__ uint64_t ld_acquire_gpu(const uint64_t* ptr) {
  uint64_t value;
  asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(value) : "l"(ptr) : "memory");
  return value;
}

// A barrier over the whole grid. Every block must be resident (the grid never exceeds the multiprocessor count)
// and every launch that uses `counter` must have the same grid size: the counter only grows, and a block's
// arrival number says which generation it waits for, so nothing has to reset it between launches.
__device__ __forceinline__ void grid_sync(uint64_t* counter) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    const uint64_t arrival = atomicAdd(reinterpret_cast<unsigned long long*>(counter), 1ull);
    const uint64_t target = (arrival / gridDim.x + 1) * gridDim.x;
    while (ld_acquire_gpu(counter) < target) {
    }
  }
  __syncthreads();
}

__device__ __forceinline__ void st_release_sys(uint64_t* ptr, uint64_t value) {
  asm volatile("st.release.sys.global.u64 [%0], %1;" ::"l"(ptr), "l"(value) : "memory");
}

// A word that carries its own data (no payload behind it to order): a relaxed store at system scope.
__device__ __forceinline__ void st_relaxed_sys(uint32_t* ptr, uint32_t value) {
  asm volatile("st.relaxed.sys.global.u32 [%0], %1;" ::"l"(ptr), "r"(value) : "memory");
}
__device__ __forceinline__ void st_relaxed_sys(uint64_t* ptr, uint64_t value) {
  asm volatile("st.relaxed.sys.global.u64 [%0], %1;" ::"l"(ptr), "l"(value) : "memory");
}

// Returns the old value; orders this thread's earlier writes before the add and later reads after it (gpu scope).
__device__ __forceinline__ int atomic_add_acq_rel_gpu(int* ptr, int value) {
  int old;
  asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], %2;" : "=r"(old) : "l"(ptr), "r"(value) : "memory");
  return old;
}

__device__ __forceinline__ int ld_volatile(const int* ptr) {
  int value;
  asm volatile("ld.volatile.global.s32 %0, [%1];" : "=r"(value) : "l"(ptr));
  return value;
}

__device__ __forceinline__ uint64_t global_timer_ns() {
  uint64_t now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  return now;
}

__device__ __forceinline__ int4 ld_nc(const int4* ptr) {
  int4 value;
  asm volatile("ld.global.nc.L1::no_allocate.v4.s32 {%0, %1, %2, %3}, [%4];"
               : "=r"(value.x), "=r"(value.y), "=r"(value.z), "=r"(value.w)
               : "l"(ptr));
  return value;
}

__device__ __forceinline__ int4 ld_plain(const int4* ptr) { return *ptr; }

// Stores that bypass L1: the destination is a peer's memory or a buffer read by another kernel.
__device__ __forceinline__ void st_na(int4* ptr, const int4& value) {
  asm volatile("st.global.L1::no_allocate.v4.s32 [%0], {%1, %2, %3, %4};" ::"l"(ptr), "r"(value.x),
               "r"(value.y), "r"(value.z), "r"(value.w));
}

// A warp copies `bytes` (a multiple of 16) from src to dst, up to kUnroll 16-byte loads in flight per lane
// before the first store, so a few warps keep enough bytes in flight to fill NVLink. A partial last round
// is predicated rather than a one-load-one-store loop: combine's quarter rows (3584 bytes) take two round
// trips instead of four, a whole fp8 message (7408 bytes) four instead of six.
template <int kUnroll = 4>
__device__ __forceinline__ void warp_copy(void* dst, const void* src, int64_t bytes, int lane) {
  const int4* s = reinterpret_cast<const int4*>(src);
  int4* d = reinterpret_cast<int4*>(dst);
  const int64_t n = bytes / 16;
  for (int64_t i = lane; i < n; i += 32 * kUnroll) {
    int4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (i + 32 * u < n) v[u] = ld_plain(s + i + 32 * u);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (i + 32 * u < n) st_na(d + i + 32 * u, v[u]);
    }
  }
}

__device__ __forceinline__ int warp_reduce_sum(int value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// The max over each aligned group of kLanes lanes (a power of two), in every lane of the group.
template <int kLanes>
__device__ __forceinline__ float warp_reduce_max(float value) {
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset >>= 1)
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

// 2^ceil(log2(x)) exponent of a positive normal float, exact (Fp8Codec.ceilLog2).
__device__ __forceinline__ int ceil_log2(float x) {
  const int bits = __float_as_int(x);
  const int exponent = ((bits >> 23) & 0xff) - 127;
  return (bits & 0x7fffff) == 0 ? exponent : exponent + 1;
}

__device__ __forceinline__ float exp2_int(int exponent) { return __int_as_float((exponent + 127) << 23); }

}  // namespace elasticmoe
