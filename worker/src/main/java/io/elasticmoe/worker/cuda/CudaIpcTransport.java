package io.elasticmoe.worker.cuda;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUipcMemHandle;
import jcuda.driver.CUipcMem_flags;
import jcuda.driver.CUpointer_attribute;
import jcuda.driver.JCudaDriver;

/**
 * Adapter over CUDA IPC for peers on this host: exports this rank's device allocations (the buffer, the
 * dispatch outputs) as metadata for the store and maps a peer's from its metadata, returning the device
 * addresses kernels store to over NVLink. No policy: which ranks to map and when is
 * {@link CudaDispatchBackend}'s.
 *
 * <p>Metadata = host identity (boot id, so two pods on one node match and two nodes never do), the exporting
 * process id (a process cannot open its own handle), the number of allocations, then 64 handle bytes for
 * each, in the exporter's order. JCuda's {@link CUipcMemHandle}
 * keeps them in a private field {@code reserved} with no accessor, so they are read and written by reflection.
 */
public final class CudaIpcTransport {

  private static final int HANDLE_BYTES = 64;
  private static final Field RESERVED = reservedField();

  private final byte[] localMetadata;

  /** Exports {@code allocations} (each the base of a cuMemAlloc); peers map them in this order. */
  public CudaIpcTransport(CUdeviceptr... allocations) {
    byte[][] handles = new byte[allocations.length][];
    for (int i = 0; i < allocations.length; i++) {
      CUipcMemHandle handle = new CUipcMemHandle();
      CudaException.check(JCudaDriver.cuIpcGetMemHandle(handle, allocations[i]), "cuIpcGetMemHandle(allocation " + i + ")");
      handles[i] = handleBytes(handle);
    }
    this.localMetadata = encode(hostIdentity(), ProcessHandle.current().pid(), handles);
  }

  public byte[] localMetadata() {
    return localMetadata.clone();
  }

  /** Whether a peer with this metadata can be mapped here (same host, another process). */
  public boolean reachable(byte[] peerMetadata) {
    return decodeHost(peerMetadata).equals(hostIdentity());
  }

  /**
   * Maps each of the peer's exported allocations into this context, in its order; returns the mappings to
   * pass to {@link #close}. A failed mapping closes the ones opened before it.
   */
  public CUdeviceptr[] open(int peer, byte[] peerMetadata) {
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
    byte[][] handles = decodeHandles(peerMetadata);
    CUdeviceptr[] mapped = new CUdeviceptr[handles.length];
    for (int i = 0; i < handles.length; i++) {
      CUipcMemHandle handle = new CUipcMemHandle();
      setHandleBytes(handle, handles[i]);
      mapped[i] = new CUdeviceptr();
      int result = JCudaDriver.cuIpcOpenMemHandle(mapped[i], handle, CUipcMem_flags.CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
      if (result != 0) {
        close(Arrays.copyOf(mapped, i));
        CudaException.check(result, "cuIpcOpenMemHandle(rank " + peer + ", allocation " + i + ")");
      }
    }
    return mapped;
  }

  public void close(CUdeviceptr... mapped) {
    for (CUdeviceptr mapping : mapped) {
      CudaException.check(JCudaDriver.cuIpcCloseMemHandle(mapping), "cuIpcCloseMemHandle");
    }
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

  static byte[] encode(String host, long pid, byte[]... handles) {
    byte[] hostBytes = host.getBytes(StandardCharsets.UTF_8);
    ByteBuffer out = ByteBuffer.allocate(4 + hostBytes.length + 8 + 4 + handles.length * HANDLE_BYTES)
        .putInt(hostBytes.length)
        .put(hostBytes)
        .putLong(pid)
        .putInt(handles.length);
    for (byte[] handle : handles) {
      out.put(handle);
    }
    return out.array();
  }

  /** The handle bytes of every exported allocation, in the exporter's order. */
  static byte[][] decodeHandles(byte[] metadata) {
    ByteBuffer in = ByteBuffer.wrap(metadata);
    in.position(4 + decodeHost(metadata).getBytes(StandardCharsets.UTF_8).length + 8);
    int count = in.getInt();
    if (count < 1 || (long) count * HANDLE_BYTES != in.remaining()) {
      throw new IllegalArgumentException("CUDA IPC metadata of " + metadata.length + " bytes names " + count
          + " allocations with " + in.remaining() + " handle bytes left; it is corrupt");
    }
    byte[][] handles = new byte[count][HANDLE_BYTES];
    for (byte[] handle : handles) {
      in.get(handle);
    }
    return handles;
  }

  static String decodeHost(byte[] metadata) {
    ByteBuffer in = ByteBuffer.wrap(metadata);
    int length = in.getInt();
    if (length < 0 || length > metadata.length - 4 - 8 - 4 - HANDLE_BYTES) {
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
