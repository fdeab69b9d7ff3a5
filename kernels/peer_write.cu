// The peer-write ceiling of the benchmark: every thread of a full grid streams 16-byte stores from local
// memory into a CUDA-IPC-mapped peer buffer, the best a dispatch that writes peers directly can do.
#include "api.cuh"
#include "utils.cuh"

extern "C" __global__ void __launch_bounds__(NUM_PEER_WRITE_THREADS, 1)
    peer_write_ceiling(uint64_t dst, uint64_t src, int64_t bytes) {
  const int lane = threadIdx.x % 32;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t num_warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  // Chunks of 8 KiB per warp, the size of one fp8 dispatch message, so the access pattern matches dispatch.
  constexpr int64_t kChunk = 8192;
  for (int64_t offset = warp * kChunk; offset < bytes; offset += num_warps * kChunk) {
    const int64_t length = bytes - offset < kChunk ? bytes - offset : kChunk;
    elasticmoe::warp_copy(reinterpret_cast<char*>(dst) + offset, reinterpret_cast<const char*>(src) + offset,
                          length, lane);
  }
}
