package io.elasticmoe.worker.cuda;

import jcuda.driver.CUresult;

/** A CUDA driver call that failed: names the call (a kernel with its launch shape, or an API) and the CUresult. */
public final class CudaException extends RuntimeException {

  private final int result;

  public CudaException(String call, int result) {
    super(call + " failed with " + CUresult.stringFor(result) + " (" + result + ")");
    this.result = result;
  }

  public int result() {
    return result;
  }

  static void check(int result, String call) {
    if (result != CUresult.CUDA_SUCCESS) {
      throw new CudaException(call, result);
    }
  }
}
