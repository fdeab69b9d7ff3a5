package io.elasticmoe.worker.cuda;

import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/** One cuMemAlloc allocation: the JCuda pointer, its raw address for kernel parameters, and its size. */
record DeviceArray(CUdeviceptr pointer, long address, long bytes) {

  static DeviceArray allocate(long bytes, String what) {
    CUdeviceptr pointer = new CUdeviceptr();
    CudaException.check(JCudaDriver.cuMemAlloc(pointer, Math.max(bytes, 16)), "cuMemAlloc(" + what + ", " + bytes + " bytes)");
    return new DeviceArray(pointer, CudaIpcTransport.addressOf(pointer), bytes);
  }

  CUdeviceptr at(long byteOffset) {
    return pointer.withByteOffset(byteOffset);
  }

  void free() {
    JCudaDriver.cuMemFree(pointer);
  }
}
