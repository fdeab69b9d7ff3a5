package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import io.elasticmoe.api.tcpstore.TcpStoreOp;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Seeded fuzzing of the decoder and of a live endpoint with random, mutated and truncated frames
 * (Jazzer is not used: a coverage-guided run needs its agent on the surefire JVM, which CI does not
 * set up; these loops are deterministic and replayable from the seed in a failure message).
 */
class TcpStoreFuzzTest {
  private static final String NS = "team-a/llm";
  private static final long SEED = 0x7C95_0123L;

  private final ScheduledThreadPoolExecutor deadlines = new ScheduledThreadPoolExecutor(1);
  private final KeyValueCore core = new KeyValueCore(KeyValueLimits.DEFAULTS, deadlines);

  @AfterEach
  void stop() {
    deadlines.shutdownNow();
  }

  /** Valid frames of both dialects, the seeds of every mutation. */
  private static List<byte[]> validFrames(TcpStoreDialect d) {
    return List.of(
        frame(d, TcpStoreOp.SET).str("/k").str("value").bytes(),
        frame(d, TcpStoreOp.GET).str("/k").bytes(),
        frame(d, TcpStoreOp.ADD).str("/c").i64(7).bytes(),
        frame(d, TcpStoreOp.COMPARE_SET).str("/k").str("value").str("other").bytes(),
        frame(d, TcpStoreOp.CHECK).keys("/k", "/c").bytes(),
        frame(d, TcpStoreOp.WAIT).keys("/k").bytes(),
        frame(d, TcpStoreOp.GET_NUM_KEYS).bytes(),
        frame(d, TcpStoreOp.DELETE_KEY).str("/gone").bytes(),
        frame(d, TcpStoreOp.APPEND).str("/log").str("x").bytes(),
        frame(d, TcpStoreOp.MULTI_GET).keys("/k", "/c").bytes(),
        frame(d, TcpStoreOp.MULTI_SET).i64(1).str("/m").str("v").bytes(),
        frame(d, TcpStoreOp.CANCEL_WAIT).bytes());
  }

  private static TcpStoreWireClient.Frame frame(TcpStoreDialect d, TcpStoreOp op) {
    return new TcpStoreWireClient.Frame().u8(d.code(op));
  }

  private static byte[] mutate(Random random, byte[] frame) {
    byte[] bytes = frame.clone();
    switch (random.nextInt(4)) {
      case 0 -> bytes = Arrays.copyOf(bytes, random.nextInt(bytes.length + 1)); // truncate
      case 1 -> bytes[random.nextInt(bytes.length)] = (byte) random.nextInt(256); // flip a byte
      case 2 -> { // overwrite a length with an extreme value
        if (bytes.length >= 9) {
          ByteBuffer.wrap(bytes).putLong(1, random.nextBoolean() ? -1L : random.nextLong());
        }
      }
      default -> { // pure noise
        bytes = new byte[random.nextInt(64)];
        random.nextBytes(bytes);
      }
    }
    return bytes;
  }

  @Test
  void decoderNeverThrowsAnythingButAProtocolException() {
    TcpStoreFrameDecoder decoder = new TcpStoreFrameDecoder(KeyValueLimits.DEFAULTS, 1 << 20);
    Random random = new Random(SEED);
    for (int i = 0; i < 50_000; i++) {
      TcpStoreDialect dialect = TcpStoreDialect.values()[random.nextInt(2)];
      List<byte[]> frames = validFrames(dialect);
      byte[] input = mutate(random, frames.get(random.nextInt(frames.size())));
      ByteBuffer in = ByteBuffer.wrap(input);
      try {
        while (decoder.decode(dialect, in) != null) {
          assertThat(in.position()).isLessThanOrEqualTo(input.length);
        }
      } catch (TcpStoreProtocolException expected) {
        // refused with a message: the connection would be closed
      } catch (RuntimeException e) {
        throw new AssertionError(
            "iteration " + i + " (seed " + SEED + ") input " + Arrays.toString(input), e);
      }
    }
  }

  @Test
  void endpointSurvivesFuzzedConnectionsAndLeaksNothing() throws Exception {
    TcpStoreLimits limits =
        new TcpStoreLimits(64, 1 << 20, 1 << 20, 4, Duration.ofMillis(500), Duration.ofMinutes(5));
    try (TcpStoreEndpoint endpoint =
        TcpStoreEndpoint.start(NS, NS, new InetSocketAddress("127.0.0.1", 0), core, limits)) {
      Random random = new Random(SEED);
      for (int i = 0; i < 500; i++) {
        TcpStoreDialect dialect = TcpStoreDialect.values()[random.nextInt(2)];
        List<byte[]> frames = validFrames(dialect);
        try (Socket socket = new Socket()) {
          socket.connect(new InetSocketAddress("127.0.0.1", endpoint.port()), 5000);
          OutputStream out = socket.getOutputStream();
          if (dialect == TcpStoreDialect.PYTORCH_2 && random.nextInt(4) != 0) {
            out.write(frame(dialect, TcpStoreOp.VALIDATE).u32(TcpStoreDialect.VALIDATION_MAGIC).bytes());
          }
          int count = 1 + random.nextInt(4);
          for (int f = 0; f < count; f++) {
            byte[] chosen = frames.get(random.nextInt(frames.size()));
            out.write(random.nextInt(3) == 0 ? chosen : mutate(random, chosen));
          }
          out.flush();
          if (random.nextBoolean()) {
            socket.shutdownOutput(); // half-close: the server sees EOF mid-conversation
          }
        } catch (IOException e) {
          // the server may already have closed this connection: that is the point
        }
      }
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        assertThat(endpoint.openConnections()).as("open connections").isZero();
        assertThat(core.stats(NS).waiters()).as("store waiters").isZero();
      });
      try (TcpStoreWireClient c = new TcpStoreWireClient(endpoint.port(), TcpStoreDialect.PYTORCH_2)) {
        c.set("/after", "fuzz");
        assertThat(c.get("/after")).isEqualTo("fuzz".getBytes());
      }
    }
  }
}
