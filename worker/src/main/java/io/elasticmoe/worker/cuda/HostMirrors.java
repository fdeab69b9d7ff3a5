package io.elasticmoe.worker.cuda;

import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.transport.UcxTransport;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUpointer_attribute;
import jcuda.driver.JCudaDriver;
import org.openucx.jucx.UcxUtils;

/**
 * The two pinned host buffers through which the CUDA backend reaches staged (other-node) peers (DESIGN §6:
 * the available UCX has no CUDA support), each laid out by {@link DispatchLayout} and mapped into the device,
 * plus the UCX transport whose registered buffer is one of them:
 *
 * <ul>
 *   <li>the <b>staging mirror</b> (cuMemHostAlloc DEVICEMAP): kernels write a staged destination {@code d}'s
 *       messages where {@code d} itself would sit as a source: {@code recv[e_l][d][slot]}, {@code count(e_l, d)},
 *       combine rows of expert {@code d·E_l+e_l} and its flag. Every destination has its own slice, so one
 *       mirror serves all of them, and a slice holds the bytes the destination expects from this rank;
 *   <li>the <b>receive mirror</b>: {@link UcxTransport}'s buffer (UCX allocates it so same-host puts are
 *       plain copies), page-locked for the device with cuMemHostRegister DEVICEMAP; staged peers' proxies put
 *       into it at the ordinary positions and kernels read it with system-scope acquires.
 * </ul>
 *
 * Both are allocated once, for maxRanks, so the device addresses in the kernels' tables never change.
 */
final class HostMirrors implements AutoCloseable {

  private static final long PAGE_BYTES = 4096;

  private final UcxTransport transport;
  private final Pointer stagingHost = new Pointer();
  private final ByteBuffer staging;
  private final long stagingDevice;
  private final Pointer receiveHost;
  private final CUdeviceptr receiveMirror = new CUdeviceptr();
  private final long receiveDevice;

  /** Allocates both mirrors in the current CUDA context; {@code transports} is UCX_TLS of the transport. */
  HostMirrors(DispatchLayout layout, String transports) {
    long bytes = layout.totalBytes();
    // The staging area holds counter values while their puts are in flight: one word per signal offset.
    this.transport = new UcxTransport(bytes, Math.toIntExact(DispatchLayout.NUM_BUFFERS * layout.signalRegionBytes()),
        transports);
    int flags = JCudaDriver.CU_MEMHOSTALLOC_PORTABLE | JCudaDriver.CU_MEMHOSTALLOC_DEVICEMAP;
    CudaException.check(JCudaDriver.cuMemHostAlloc(stagingHost, bytes, flags),
        "cuMemHostAlloc(staging mirror, " + bytes + " bytes)");
    CUdeviceptr stagingMapped = new CUdeviceptr();
    this.stagingDevice = devicePointer(stagingMapped, stagingHost, "staging mirror");
    this.staging = hostView(stagingHost, stagingMapped, bytes).order(ByteOrder.LITTLE_ENDIAN);
    // Pinned host memory is not zeroed; a stale non-zero word would read as a published message.
    byte[] zeros = new byte[1 << 20];
    for (int at = 0; at < staging.capacity(); at += zeros.length) {
      staging.put(at, zeros, 0, Math.min(zeros.length, staging.capacity() - at));
    }
    this.receiveHost = Pointer.to(transport.buffer());
    // Whole pages where UCX mapped whole pages (shared memory, mmap: it rounds its allocation up to them).
    long registered = transport.bufferAddress() % PAGE_BYTES == 0 ? (bytes + PAGE_BYTES - 1) / PAGE_BYTES * PAGE_BYTES : bytes;
    CudaException.check(
        JCudaDriver.cuMemHostRegister(receiveHost, registered,
            JCudaDriver.CU_MEMHOSTREGISTER_PORTABLE | JCudaDriver.CU_MEMHOSTREGISTER_DEVICEMAP),
        "cuMemHostRegister(receive mirror: UCX buffer of " + registered + " bytes at 0x"
            + Long.toHexString(transport.bufferAddress()) + ")");
    this.receiveDevice = devicePointer(receiveMirror, receiveHost, "receive mirror");
    for (long address : new long[] {stagingDevice, receiveDevice}) {
      if (address % DispatchLayout.ALIGNMENT_BYTES != 0) {
        throw new IllegalStateException("a host mirror is mapped at 0x" + Long.toHexString(address) + ", not on the "
            + DispatchLayout.ALIGNMENT_BYTES + "-byte boundary the kernels' 16-byte accesses assume");
      }
    }
  }

  /**
   * The host's view of a cuMemHostAlloc allocation: JCuda attaches one to the pointer; where it does not, the
   * driver's host address of the mapping (CU_POINTER_ATTRIBUTE_HOST_POINTER) is wrapped.
   */
  private static ByteBuffer hostView(Pointer host, CUdeviceptr mapped, long bytes) {
    ByteBuffer attached = host.getByteBuffer(0, bytes);
    if (attached != null) {
      return attached;
    }
    long[] address = new long[1];
    CudaException.check(
        JCudaDriver.cuPointerGetAttribute(Pointer.to(address), CUpointer_attribute.CU_POINTER_ATTRIBUTE_HOST_POINTER, mapped),
        "cuPointerGetAttribute(HOST_POINTER of the staging mirror)");
    return UcxUtils.getByteBufferView(address[0], bytes);
  }

  private static long devicePointer(CUdeviceptr device, Pointer host, String what) {
    CudaException.check(JCudaDriver.cuMemHostGetDevicePointer(device, host, 0), "cuMemHostGetDevicePointer(" + what + ")");
    return CudaIpcTransport.addressOf(device);
  }

  UcxTransport transport() {
    return transport;
  }

  /** The staging mirror as the host (the proxy) sees it. */
  ByteBuffer staging() {
    return staging;
  }

  /** Device address of the staging mirror: {@code peer_bases} of every staged destination. */
  long stagingDeviceAddress() {
    return stagingDevice;
  }

  /** The receive mirror as the device sees it, for stream-ordered clears of its signals. */
  CUdeviceptr receiveMirror() {
    return receiveMirror;
  }

  /** Device address of the receive mirror: {@code recv_bases} of every staged source. */
  long receiveDeviceAddress() {
    return receiveDevice;
  }

  /** Frees both mirrors and the transport; call after the proxy thread has stopped and the stream is idle. */
  @Override
  public void close() {
    // Unpinned before UCX unmaps the buffer under it.
    JCudaDriver.cuMemHostUnregister(receiveHost);
    transport.close();
    JCudaDriver.cuMemFreeHost(stagingHost);
  }
}
