package io.elasticmoe.worker.cuda;

import io.elasticmoe.worker.runtime.DispatchLayout;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * The kernels of {@code kernels/}, loaded from the cubin (sm_90) or, where the GPU has no matching machine
 * code, the PTX that travel in the worker jar under {@code /kernels/}. One Java method per exported kernel;
 * each checks its sizes against the table of compiled instances ({@link #SUPPORTED_HIDDEN}, mirroring
 * {@code EMOE_FOR_EACH_HIDDEN} in launch.cuh) before {@code cuLaunchKernel}, and a failed launch becomes a
 * {@link CudaException} naming the kernel and its launch shape. Must be used with its context current.
 */
public final class KernelLibrary {

  /** Hidden sizes with a compiled instance (launch.cuh EMOE_FOR_EACH_HIDDEN). */
  public static final List<Integer> SUPPORTED_HIDDEN = List.of(512, 1024, 2048, 4096, 7168);

  // Threads per block (launch.cuh NUM_*_THREADS) and the most source ranks a receiving block tracks.
  static final int DISPATCH_THREADS = 1024;
  static final int COMBINE_THREADS = 1024;
  static final int PEER_WRITE_THREADS = 1024;
  public static final int MAX_SOURCE_RANKS = 256;

  private static final List<String> MODULES = List.of("dispatch_ll", "combine_ll", "peer_write");

  private final Map<String, CUfunction> functions;
  private final String loadedFrom;
  private final int multiprocessors;

  private KernelLibrary(Map<String, CUfunction> functions, String loadedFrom, int multiprocessors) {
    this.functions = functions;
    this.loadedFrom = loadedFrom;
    this.multiprocessors = multiprocessors;
  }

  /** Loads every module into the current context; {@code multiprocessors} caps every grid (all blocks resident). */
  public static KernelLibrary load(int multiprocessors) {
    Map<String, CUfunction> functions = new HashMap<>();
    StringBuilder from = new StringBuilder();
    for (String module : MODULES) {
      CUmodule handle = new CUmodule();
      int loaded = JCudaDriver.cuModuleLoadData(handle, resource("/kernels/" + module + ".cubin"));
      String kind = "cubin";
      if (loaded == CUresult.CUDA_ERROR_NO_BINARY_FOR_GPU || loaded == CUresult.CUDA_ERROR_INVALID_IMAGE) {
        // Not an sm_90 device: let the driver compile the PTX (NUL-terminated text) for it.
        byte[] ptx = resource("/kernels/" + module + ".ptx");
        loaded = JCudaDriver.cuModuleLoadData(handle, Arrays.copyOf(ptx, ptx.length + 1));
        kind = "ptx";
      }
      CudaException.check(loaded, "cuModuleLoadData(" + module + "." + kind + ")");
      from.append(from.isEmpty() ? "" : ", ").append(module).append('.').append(kind);
      for (String function : exportedBy(module)) {
        CUfunction entry = new CUfunction();
        CudaException.check(
            JCudaDriver.cuModuleGetFunction(entry, handle, function), "cuModuleGetFunction(" + function + ")");
        functions.put(function, entry);
      }
    }
    return new KernelLibrary(functions, from.toString(), multiprocessors);
  }

  /** The extern "C" names of kernels/api.cuh each module defines. */
  static List<String> exportedBy(String module) {
    return switch (module) {
      case "dispatch_ll" -> SUPPORTED_HIDDEN.stream().map(h -> "dispatch_ll_h" + h).toList();
      case "combine_ll" -> SUPPORTED_HIDDEN.stream().map(h -> "combine_ll_h" + h).toList();
      default -> List.of("peer_write_ceiling");
    };
  }

  private static byte[] resource(String path) {
    try (InputStream in = KernelLibrary.class.getResourceAsStream(path)) {
      if (in == null) {
        throw new IllegalStateException(
            "kernel image " + path + " is not on the classpath: the worker was built without nvcc "
                + "(see 'kernels skipped: nvcc not found' in the build log); rebuild where /usr/local/cuda/bin/nvcc exists");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public String loadedFrom() {
    return loadedFrom;
  }

  public int multiprocessors() {
    return multiprocessors;
  }

  /** Dispatch (kernels/dispatch_ll.cu): cast, number the slots, clear the other buffer's signals; then send,
   * publish counters, wait and pack. */
  public void dispatch(int hidden, LowLatencyParams params, CUstream stream) {
    checkStep(hidden, params);
    launch("dispatch_ll_h" + hidden, multiprocessors, DISPATCH_THREADS, params.toBytes(), stream);
  }

  public void combine(int hidden, LowLatencyParams params, CUstream stream) {
    checkStep(hidden, params);
    launch("combine_ll_h" + hidden, multiprocessors, COMBINE_THREADS, params.toBytes(), stream);
  }

  /** Stores {@code bytes} from local {@code src} into {@code dst} (an IPC-mapped peer buffer). */
  public void peerWriteCeiling(long dst, long src, long bytes, CUstream stream) {
    if (bytes <= 0 || bytes % 16 != 0) {
      throw new IllegalArgumentException("bytes is " + bytes + "; it must be a positive multiple of 16 (int4 stores)");
    }
    Pointer args = Pointer.to(Pointer.to(new long[] {dst}), Pointer.to(new long[] {src}), Pointer.to(new long[] {bytes}));
    launchRaw("peer_write_ceiling", multiprocessors, PEER_WRITE_THREADS, args, stream);
  }

  /** The preconditions every LL kernel relies on, one check per value, before any launch. */
  static void checkStep(int hidden, LowLatencyParams params) {
    checkHidden(hidden);
    long numTokens = params.get(LowLatencyParams.Field.NUM_TOKENS);
    if (numTokens < 0 || numTokens > DispatchLayout.MAX_TOKENS_PER_RANK) {
      throw new IllegalArgumentException(
          "numTokens is " + numTokens + "; the kernels support at most " + DispatchLayout.MAX_TOKENS_PER_RANK
              + " (NUM_MAX_DISPATCH_TOKENS)");
    }
    long numTopk = params.get(LowLatencyParams.Field.NUM_TOPK);
    if (numTopk < 1 || numTopk > DispatchLayout.MAX_TOPK) {
      throw new IllegalArgumentException(
          "numTopk is " + numTopk + "; the kernels support 1.." + DispatchLayout.MAX_TOPK + " (NUM_MAX_TOPK)");
    }
    long numRanks = params.get(LowLatencyParams.Field.NUM_RANKS);
    if (numRanks < 1 || numRanks > MAX_SOURCE_RANKS) {
      throw new IllegalArgumentException(
          "R_b is " + numRanks + "; the kernels support 1.." + MAX_SOURCE_RANKS + " (NUM_MAX_SOURCE_RANKS)");
    }
    if (params.get(LowLatencyParams.Field.USE_FP8) != 0 && hidden % DispatchLayout.FP8_HIDDEN_ALIGNMENT != 0) {
      throw new IllegalArgumentException(
          "hidden is " + hidden + "; fp8 dispatch needs a multiple of " + DispatchLayout.FP8_HIDDEN_ALIGNMENT);
    }
  }

  static void checkHidden(int hidden) {
    if (!SUPPORTED_HIDDEN.contains(hidden)) {
      throw new IllegalArgumentException(
          "hidden is " + hidden + "; the kernels are compiled for hidden " + SUPPORTED_HIDDEN
              + " (EMOE_FOR_EACH_HIDDEN in kernels/launch.cuh)");
    }
  }

  private void launch(String name, int blocks, int threads, byte[] params, CUstream stream) {
    launchRaw(name, blocks, threads, Pointer.to(Pointer.to(params)), stream);
  }

  private void launchRaw(String name, int blocks, int threads, Pointer args, CUstream stream) {
    CUfunction function = functions.get(name);
    int result = JCudaDriver.cuLaunchKernel(function, blocks, 1, 1, threads, 1, 1, 0, stream, args, null);
    CudaException.check(result, "cuLaunchKernel(" + name + ", grid " + blocks + ", block " + threads + ")");
  }
}
