package io.elasticmoe.worker.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class UcxTransportTest {

  /** Drives a peer's worker from its own thread, as a peer rank would while it waits. */
  private static final class PeerProgress implements AutoCloseable {
    private final Thread thread;
    private volatile boolean running = true;

    PeerProgress(UcxTransport peer) {
      thread = new Thread(() -> {
        while (running) {
          peer.progress();
        }
      });
      thread.start();
    }

    @Override
    public void close() throws InterruptedException {
      running = false;
      thread.join();
    }
  }

  private static long deadline() {
    return System.nanoTime() + 10_000_000_000L;
  }

  @Test
  void putsLandAtTheSameOffsetInThePeersBufferAndFlushCompletesThem() throws Exception {
    try (UcxTransport a = new UcxTransport(4096, 64, UcxTransport.HOST_TRANSPORTS);
        UcxTransport b = new UcxTransport(4096, 64, UcxTransport.HOST_TRANSPORTS)) {
      a.connect(1, b.localMetadata());
      for (int i = 0; i < 1024; i++) {
        a.buffer().put(i, (byte) (i * 7));
      }
      a.staging().putLong(0, 42L);
      b.connect(0, a.localMetadata());
      try (PeerProgress ignored = new PeerProgress(b)) {

      assertThat(a.put(1, a.addressOf(0), 2048, 1024)).isTrue();
      assertThat(a.flush(List.of(1), deadline())).isEmpty();
      // The counter goes after the flush: a reader that sees it also sees the data.
      assertThat(a.put(1, a.stagingAddress(), 8, 8)).isTrue();
      assertThat(a.flush(List.of(1), deadline())).isEmpty();
      }

      assertThat(b.buffer().getLong(8)).isEqualTo(42L);
      for (int i = 0; i < 1024; i++) {
        assertThat(b.buffer().get(2048 + i)).isEqualTo((byte) (i * 7));
      }
    }
  }

  /**
   * With the buffer UCX allocates, a same-host put is a copy the sender makes into the peer's mapped
   * memory: the rows are there, and the flush completes, while the peer never progresses. (A buffer the JVM
   * allocates and registers went through UCX's active-message emulation instead, completed by the target.)
   */
  @Test
  void sameHostPutsAreCompletedByTheSenderAlone() {
    int rowBytes = 7408;
    int rows = 64;
    try (UcxTransport a = new UcxTransport((long) rowBytes * rows * 2, 64, UcxTransport.HOST_TRANSPORTS);
        UcxTransport b = new UcxTransport((long) rowBytes * rows * 2, 64, UcxTransport.HOST_TRANSPORTS)) {
      a.connect(1, b.localMetadata());
      b.connect(0, a.localMetadata());
      for (int i = 0; i < rowBytes * rows; i++) {
        a.buffer().put(i, (byte) (i * 31 + 5));
      }
      for (int row = 0; row < rows; row++) {
        assertThat(a.put(1, a.addressOf((long) row * rowBytes), (long) (rows + row) * rowBytes, rowBytes)).isTrue();
      }
      assertThat(a.flush(List.of(1), deadline())).isEmpty();
      for (int i = 0; i < rowBytes * rows; i++) {
        assertThat(b.buffer().get(rowBytes * rows + i)).isEqualTo((byte) (i * 31 + 5));
      }
    }
  }

  /** A same-host peer's buffer is mapped here: a store into the view is in the peer's buffer, no put. */
  @Test
  void aSameHostPeersBufferIsMappedAndStoresIntoItLandInThePeersBuffer() {
    try (UcxTransport a = new UcxTransport(1 << 20, 64, UcxTransport.HOST_TRANSPORTS);
        UcxTransport b = new UcxTransport(1 << 20, 64, UcxTransport.HOST_TRANSPORTS)) {
      a.connect(1, b.localMetadata());
      java.nio.ByteBuffer peer = a.mappedBuffer(1);
      assertThat(peer).isNotNull();
      assertThat(peer.capacity()).isEqualTo(1 << 20);
      peer.putLong(0, 0x0102030405060708L);
      peer.putLong((1 << 20) - 8, -7L);
      assertThat(b.buffer().getLong(0)).isEqualTo(0x0102030405060708L);
      assertThat(b.buffer().getLong((1 << 20) - 8)).isEqualTo(-7L);
      a.disconnect(1);
      assertThatThrownBy(() -> a.mappedBuffer(1)).hasMessageContaining("rank 1 is not connected");
    }
  }

  /** Over tcp alone UCX maps nothing: the peer is reached by puts only. */
  @Test
  void aPeerReachedOverTcpHasNoMappedBuffer() {
    try (UcxTransport a = new UcxTransport(4096, 64, "tcp,self");
        UcxTransport b = new UcxTransport(4096, 64, "tcp,self")) {
      a.connect(1, b.localMetadata());
      assertThat(a.mappedBuffer(1)).isNull();
    }
  }

  @Test
  void putsOnEveryLaneFromTheirOwnThreadsLandAndOneFlushCompletesThem() throws Exception {
    int rowBytes = 7408;
    int lanes = 3;
    try (UcxTransport a = new UcxTransport((long) rowBytes * lanes * 2, 64, UcxTransport.HOST_TRANSPORTS, lanes);
        UcxTransport b = new UcxTransport((long) rowBytes * lanes * 2, 64, UcxTransport.HOST_TRANSPORTS)) {
      assertThat(a.lanes()).isEqualTo(lanes);
      a.connect(1, b.localMetadata());
      b.connect(0, a.localMetadata());
      for (int i = 0; i < rowBytes * lanes; i++) {
        a.buffer().put(i, (byte) (i * 13 + 1));
      }
      List<Thread> threads = new java.util.ArrayList<>();
      java.util.concurrent.atomic.AtomicInteger failed = new java.util.concurrent.atomic.AtomicInteger();
      for (int lane = 0; lane < lanes; lane++) {
        int row = lane;
        threads.add(Thread.ofPlatform().start(() -> {
          if (!a.putOnLane(row, 1, a.addressOf((long) row * rowBytes), (long) (lanes + row) * rowBytes, rowBytes)) {
            failed.incrementAndGet();
          }
        }));
      }
      for (Thread thread : threads) {
        thread.join();
      }
      assertThat(failed.get()).isZero();
      assertThat(a.flush(List.of(1), deadline())).isEmpty();
      for (int i = 0; i < rowBytes * lanes; i++) {
        assertThat(b.buffer().get(rowBytes * lanes + i)).isEqualTo((byte) (i * 13 + 1));
      }
    }
    assertThatThrownBy(() -> new UcxTransport(4096, 64, UcxTransport.HOST_TRANSPORTS, 0))
        .hasMessage("lanes is 0; at least 1 (the rank's own worker)");
  }

  @Test
  void rejectsPutsOutsideThePeersBufferNamingTheSizes() {
    try (UcxTransport a = new UcxTransport(1024, 8, UcxTransport.HOST_TRANSPORTS);
        UcxTransport b = new UcxTransport(512, 8, UcxTransport.HOST_TRANSPORTS)) {
      a.connect(1, b.localMetadata());
      assertThatThrownBy(() -> a.put(1, a.addressOf(0), 500, 64))
          .hasMessageContaining("64 bytes at offset 500")
          .hasMessageContaining("512 bytes");
      assertThatThrownBy(() -> a.put(3, a.addressOf(0), 0, 8)).hasMessageContaining("rank 3 is not connected");
    }
  }

  @Test
  void rejectsBuffersAboveTheByteBufferLimit() {
    assertThatThrownBy(() -> new UcxTransport(3L << 30, 8, UcxTransport.HOST_TRANSPORTS)).hasMessageContaining("buffer is 3221225472 bytes");
  }

  @Test
  void disconnectedPeerCanBeConnectedAgain() throws Exception {
    try (UcxTransport a = new UcxTransport(1024, 8, UcxTransport.HOST_TRANSPORTS);
        UcxTransport b = new UcxTransport(1024, 8, UcxTransport.HOST_TRANSPORTS)) {
      a.connect(1, b.localMetadata());
      a.disconnect(1);
      assertThat(a.isConnected(1)).isFalse();
      a.connect(1, b.localMetadata());
      a.staging().putLong(0, 7L);
      try (PeerProgress ignored = new PeerProgress(b)) {
        assertThat(a.put(1, a.stagingAddress(), 0, 8)).isTrue();
        assertThat(a.flush(List.of(1), deadline())).isEmpty();
      }
      assertThat(b.buffer().getLong(0)).isEqualTo(7L);
    }
  }
}
