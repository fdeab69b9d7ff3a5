// Launch shapes and the table of compiled template instances (DeepEP csrc/kernels/launch.cuh).
// KernelLibrary.SUPPORTED_HIDDEN lists the same sizes; KernelConfigsTest keeps them equal.
#pragma once

#define EMOE_FOR_EACH_HIDDEN(X) X(512) X(1024) X(2048) X(4096) X(7168)

// Threads per block of each kernel; KernelLibrary launches with exactly these.
#define NUM_DISPATCH_THREADS 1024
#define NUM_COMBINE_THREADS 1024
#define NUM_PEER_WRITE_THREADS 1024

// Channels one warp reduces per combine work item: 32 lanes × 8 bf16 (one 16-byte load each).
#define NUM_COMBINE_CHANNELS_PER_WARP 256

// Most source ranks (R_b) one receiving block keeps counters for in shared memory.
#define NUM_MAX_SOURCE_RANKS 256
