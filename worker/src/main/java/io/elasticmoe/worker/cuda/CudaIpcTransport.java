package io.elasticmoe.worker.cuda;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUipcMemHandle;
import jcuda.driver.CUipcMem_flags;
import jcuda.driver.CUpointer_attribute;
import jcuda.driver.JCudaDriver;

/**
 * Adapter over CUDA IPC for peers on this host: exports this rank's buffer as metadata for the store and
 * maps a peer's buffer from its metadata, returning the device address kernels store to over NVLink. No
 * policy: which ranks to map and when is {@link CudaDispatchBackend}'s.
 *
 * <p>Metadata = host identity (boot id, so two pods on one node match and two nodes never do), the exporting
 * process id (a process cannot open its own handle), then the 64 handle bytes. JCuda's {@link CUipcMemHandle}
 * keeps them in a private field {@code reserved} with no accessor, so they are read and written by reflection.
 */
public final class CudaIpcTransport {

  private static final int HANDLE_BYTES = 64;
  private static final Field RESERVED = reservedField();

  private final long localAddress;
  private final byte[] localMetadata;

  public CudaIpcTransport(CUdeviceptr localBuffer) {
    this.localAddress = addressOf(localBuffer);
    CUipcMemHandle handle = new CUipcMemHandle();
    CudaException.check(JCudaDriver.cuIpcGetMemHandle(handle, localBuffer), "cuIpcGetMemHandle");
    this.localMetadata = encode(hostIdentity(), ProcessHandle.current().pid(), handleBytes(handle));
  }

  public byte[] localMetadata() {
    return localMetadata.clone();
  }

  public long localAddress() {
    return localAddress;
  }

  /** Whether a peer with this metadata can be mapped here (same host, another process). */
  public boolean reachable(byte[] peerMetadata) {
    return decodeHost(peerMetadata).equals(hostIdentity());
  }

  /** Maps the peer's buffer into this context; returns the mapping to pass to {@link #close}. */
  public CUdeviceptr open(int peer, byte[] peerMetadata) {
    if (!reachable(peerMetadata)) {
      throw new IllegalArgumentException(
          "rank " + peer + " is on host " + decodeHost(peerMetadata) + ", not this host " + hostIdentity()
              + "; CUDA IPC reaches same-host peers only");
    }
    ByteBuffer in = ByteBuffer.wrap(peerMetadata);
    in.position(4 + in.getInt(0));
    long pid = in.getLong();
    if (pid == ProcessHandle.current().pid()) {
      throw new IllegalArgumentException(
          "rank " + peer + " lives in this process (pid " + pid + "); CUDA IPC cannot open a handle in its exporter");
    }
    byte[] bytes = new byte[HANDLE_BYTES];
    in.get(bytes);
    CUipcMemHandle handle = new CUipcMemHandle();
    setHandleBytes(handle, bytes);
    CUdeviceptr mapped = new CUdeviceptr();
    CudaException.check(
        JCudaDriver.cuIpcOpenMemHandle(mapped, handle, CUipcMem_flags.CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS),
        "cuIpcOpenMemHandle(rank " + peer + ")");
    return mapped;
  }

  public void close(CUdeviceptr mapped) {
    CudaException.check(JCudaDriver.cuIpcCloseMemHandle(mapped), "cuIpcCloseMemHandle");
  }

  /** The raw device address of a pointer, for the kernels' parameter struct. */
  public static long addressOf(CUdeviceptr pointer) {
    long[] address = new long[1];
    CudaException.check(
        JCudaDriver.cuPointerGetAttribute(
            Pointer.to(address), CUpointer_attribute.CU_POINTER_ATTRIBUTE_DEVICE_POINTER, pointer),
        "cuPointerGetAttribute(DEVICE_POINTER)");
    return address[0];
  }

  static byte[] encode(String host, long pid, byte[] handle) {
    byte[] hostBytes = host.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(4 + hostBytes.length + 8 + HANDLE_BYTES)
        .putInt(hostBytes.length)
        .put(hostBytes)
        .putLong(pid)
        .put(handle)
        .array();
  }

  static String decodeHost(byte[] metadata) {
    ByteBuffer in = ByteBuffer.wrap(metadata);
    int length = in.getInt();
    if (length < 0 || length > metadata.length - 4 - 8 - HANDLE_BYTES) {
      throw new IllegalArgumentException(
          "CUDA IPC metadata of " + metadata.length + " bytes names a host of " + length + " bytes; it is corrupt");
    }
    return new String(metadata, 4, length, StandardCharsets.UTF_8);
  }

  static byte[] handleBytes(CUipcMemHandle handle) {
    try {
      return ((byte[]) RESERVED.get(handle)).clone();
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("CUipcMemHandle.reserved is not readable", e);
    }
  }

  static void setHandleBytes(CUipcMemHandle handle, byte[] bytes) {
    try {
      byte[] reserved = (byte[]) RESERVED.get(handle);
      if (reserved == null || reserved.length != HANDLE_BYTES) {
        RESERVED.set(handle, bytes.clone());
      } else {
        System.arraycopy(bytes, 0, reserved, 0, HANDLE_BYTES);
      }
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("CUipcMemHandle.reserved is not writable", e);
    }
  }

  private static Field reservedField() {
    try {
      Field field = CUipcMemHandle.class.getDeclaredField("reserved");
      field.setAccessible(true);
      return field;
    } catch (NoSuchFieldException e) {
      throw new IllegalStateException("JCuda's CUipcMemHandle has no field 'reserved' (JCuda 12.6.0 expected)", e);
    }
  }

  private static String hostIdentity() {
    try {
      return Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
    } catch (IOException e) {
      throw new IllegalStateException("cannot read /proc/sys/kernel/random/boot_id to identify this host", e);
    }
  }
}
