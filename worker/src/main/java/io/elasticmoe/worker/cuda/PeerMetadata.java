package io.elasticmoe.worker.cuda;

import java.nio.ByteBuffer;

/**
 * What a CUDA rank publishes under {@code NIXL_EP/{rank}} at connect: its CUDA IPC metadata (host identity,
 * pid, handle), whether it asked to be staged by every peer ({@link CudaDispatchBackend.PeerStaging#ALL_PEERS},
 * so both sides of a pair take the same path), and the UCX metadata of its host receive mirror (empty when
 * it runs without host staging).
 */
record PeerMetadata(byte[] ipc, boolean stageAll, byte[] ucx) {

  byte[] encode() {
    return ByteBuffer.allocate(4 + ipc.length + 1 + 4 + ucx.length)
        .putInt(ipc.length).put(ipc).put((byte) (stageAll ? 1 : 0)).putInt(ucx.length).put(ucx).array();
  }

  static PeerMetadata decode(byte[] bytes) {
    ByteBuffer in = ByteBuffer.wrap(bytes);
    byte[] ipc = field(in, bytes.length, "CUDA IPC");
    if (!in.hasRemaining()) {
      throw corrupt(bytes.length, "no staging flag");
    }
    boolean stageAll = in.get() != 0;
    byte[] ucx = field(in, bytes.length, "UCX");
    if (in.hasRemaining()) {
      throw corrupt(bytes.length, in.remaining() + " trailing bytes");
    }
    return new PeerMetadata(ipc, stageAll, ucx);
  }

  private static byte[] field(ByteBuffer in, int total, String what) {
    if (in.remaining() < 4) {
      throw corrupt(total, "no length of the " + what + " part");
    }
    int length = in.getInt();
    if (length < 0 || length > in.remaining()) {
      throw corrupt(total, "a " + what + " part of " + length + " bytes with " + in.remaining() + " left");
    }
    byte[] out = new byte[length];
    in.get(out);
    return out;
  }

  private static IllegalArgumentException corrupt(int total, String why) {
    return new IllegalArgumentException("CUDA backend metadata of " + total + " bytes is corrupt: " + why
        + " (is the peer an older worker, or a CPU-backend rank in a CUDA world?)");
  }
}
