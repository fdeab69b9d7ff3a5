package io.elasticmoe.worker.transport;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.openucx.jucx.ucp.UcpRemoteKey;

/**
 * UCX's {@code ucp_rkey_ptr}, which JUCX 1.12 does not expose, called through the foreign function API:
 * where UCX can map a peer's registered memory into this process (a peer on this host whose buffer UCX
 * allocated in shared memory), the peer's buffer as a plain {@link ByteBuffer}. Stores into it are the
 * peer's memory: no put, no staging copy, no flush, nothing the target has to progress. Where UCX cannot
 * (a peer reached over tcp) there is no view and the caller puts.
 *
 * <p>The mapping belongs to the unpacked remote key: it is valid until {@link UcpRemoteKey#close()}.
 */
final class RemoteKeyPointer {

  private static final int UCS_OK = 0;

  /** {@code ucs_status_t ucp_rkey_ptr(ucp_rkey_h rkey, uint64_t raddr, void **addr_p)}. */
  private static final MethodHandle RKEY_PTR = Linker.nativeLinker().downcallHandle(
      SymbolLookup.libraryLookup("libucp.so.0", Arena.global()).find("ucp_rkey_ptr").orElseThrow(),
      FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));

  private RemoteKeyPointer() {}

  /**
   * The peer's {@code bytes} from {@code remoteBase} as a little-endian view in this process, or null when
   * UCX cannot map them here. Both ends are looked up, so a view is only returned for memory UCX maps as
   * one contiguous range.
   */
  static ByteBuffer map(UcpRemoteKey rkey, long remoteBase, long bytes) {
    long first = pointer(rkey, remoteBase);
    long last = pointer(rkey, remoteBase + bytes - 1);
    if (first == 0 || last - first != bytes - 1) {
      return null;
    }
    return MemorySegment.ofAddress(first).reinterpret(bytes).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
  }

  private static long pointer(UcpRemoteKey rkey, long remoteAddress) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
      int status = (int) RKEY_PTR.invokeExact(MemorySegment.ofAddress(rkey.getNativeId()), remoteAddress, out);
      return status == UCS_OK ? out.get(ValueLayout.ADDRESS, 0).address() : 0;
    } catch (Throwable e) {
      throw new IllegalStateException("ucp_rkey_ptr failed", e);
    }
  }
}
