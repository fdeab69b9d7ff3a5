package io.elasticmoe.worker.cuda;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Decides once per JVM whether the CUDA backend can run here, and if not, why, in words a user can act on.
 * JCuda loads its natives on the first call: without a driver that call throws {@link UnsatisfiedLinkError}
 * and every later one {@link NoClassDefFoundError} (the class failed to initialise), so both are caught.
 */
public final class GpuProbe {

  /** What the probe saw: a usable device count, or the reason there is none. */
  public record Result(boolean available, int deviceCount, String reason) {}

  private static final Result RESULT = probe();

  private GpuProbe() {}

  /** What the probe saw in this JVM. */
  public static Result result() {
    return RESULT;
  }

  public static boolean available() {
    return RESULT.available();
  }

  public static int deviceCount() {
    return RESULT.deviceCount();
  }

  public static String reason() {
    return RESULT.reason();
  }

  private static Result probe() {
    try {
      int initialised = JCudaDriver.cuInit(0);
      if (initialised != CUresult.CUDA_SUCCESS) {
        return unavailable(
            "cuInit failed with " + CUresult.stringFor(initialised)
                + ": a CUDA driver is installed but no usable GPU is visible"
                + visibleDevicesNote());
      }
      int[] count = new int[1];
      int counted = JCudaDriver.cuDeviceGetCount(count);
      if (counted != CUresult.CUDA_SUCCESS || count[0] == 0) {
        return unavailable("the CUDA driver reports no device" + visibleDevicesNote());
      }
      return new Result(true, count[0], count[0] + " CUDA device(s) visible");
    } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
      return unavailable(describe(e));
    }
  }

  /** The user-facing reason for a JCuda load failure; pure, so the wording is unit-tested. */
  static String describe(Throwable failure) {
    if (failure instanceof UnsatisfiedLinkError) {
      // JCuda's message nests stack traces of every load attempt; the loader's own line says what is missing.
      String message = String.valueOf(failure.getMessage());
      String cause = message.lines().filter(line -> line.contains("cannot open shared object file")).findFirst()
          .orElse(message.lines().findFirst().orElse(message)).replaceFirst("^.*UnsatisfiedLinkError: ", "");
      return "no CUDA driver: JCuda could not load its natives (" + cause.strip()
          + "); install the NVIDIA driver or use --backend cpu";
    }
    return "no CUDA driver: JCuda failed to initialise earlier in this JVM (" + failure
        + "); install the NVIDIA driver or use --backend cpu";
  }

  private static Result unavailable(String reason) {
    return new Result(false, 0, reason);
  }

  private static String visibleDevicesNote() {
    String visible = System.getenv("CUDA_VISIBLE_DEVICES");
    return visible == null ? "" : " (CUDA_VISIBLE_DEVICES=" + visible + ")";
  }
}
