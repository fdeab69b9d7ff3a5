package io.elasticmoe.worker.bench.rendezvous;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The bench's TCPStore client frames queries byte for byte as PyTorch's client does. */
class TcpStoreWireClientTest {

  @Test
  void theDialectFollowsTheTorchVersion() {
    assertThat(TcpStoreDialect.ofTorchVersion("2.11.0+cpu")).isEqualTo(TcpStoreDialect.PYTORCH_2);
    assertThat(TcpStoreDialect.ofTorchVersion("2.2.0")).isEqualTo(TcpStoreDialect.PYTORCH_2);
    assertThat(TcpStoreDialect.ofTorchVersion("1.13.0a0")).isEqualTo(TcpStoreDialect.PYTORCH_1_13);
    assertThat(TcpStoreDialect.ofTorchVersion("2.0.1")).isEqualTo(TcpStoreDialect.PYTORCH_1_13);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> TcpStoreDialect.ofTorchVersion("2.1.2"));
    assertThat(e.getMessage()).isEqualTo("torch 2.1.2 has a TCPStore numbering this client does not speak "
        + "(1.13, 2.0 and 2.2 or later are supported; 2.1 renumbered its ops)");
  }

  private static byte[] frame(Object... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Object p : parts) {
      switch (p) {
        case Byte b -> out.write(b);
        case Integer i -> out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(i).array());
        case Long l -> out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(l).array());
        case String s -> {
          byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
          out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(utf8.length).array());
          out.writeBytes(utf8);
        }
        case byte[] bytes -> {
          out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(bytes.length).array());
          out.writeBytes(bytes);
        }
        default -> throw new IllegalArgumentException("no frame part " + p);
      }
    }
    return out.toByteArray();
  }

  /**
   * Serves one client as a TCPStore server would: reads the queries up to the WAIT, answers
   * STOP_WAITING, reads the GET, answers the value; returns every byte the client sent.
   */
  private static CompletableFuture<byte[]> serveOnce(ServerSocket server, int bytesThroughWait, int getBytes,
      byte[] value) {
    return CompletableFuture.supplyAsync(() -> {
      try (Socket s = server.accept()) {
        DataInputStream in = new DataInputStream(s.getInputStream());
        OutputStream out = s.getOutputStream();
        byte[] got = new byte[bytesThroughWait + getBytes];
        in.readFully(got, 0, bytesThroughWait);
        out.write(frame((byte) 0));
        out.flush();
        in.readFully(got, bytesThroughWait, getBytes);
        out.write(frame(value));
        out.flush();
        // Keep the socket open until the client has read the answer and closed its end.
        in.read();
        return got;
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    });
  }

  @Test
  void aPyTorch2ClientValidatesThenSetsWaitsAndGets() throws Exception {
    byte[] throughWait = concat(
        frame((byte) 0, 0x3C85F7CE),
        frame((byte) 1, "/k", "value"),
        frame((byte) 6, 1L, "/k"));
    byte[] get = frame((byte) 3, "/k");
    byte[] expected = concat(throughWait, get);
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      CompletableFuture<byte[]> received =
          serveOnce(server, throughWait.length, get.length, "value".getBytes(StandardCharsets.UTF_8));
      try (TcpStoreWireClient c = new TcpStoreWireClient("127.0.0.1", server.getLocalPort(),
          TcpStoreDialect.PYTORCH_2)) {
        c.set("k", "value".getBytes(StandardCharsets.UTF_8));
        assertThat(c.get("k")).asString(StandardCharsets.UTF_8).isEqualTo("value");
      }
      assertThat(received.get(10, TimeUnit.SECONDS)).isEqualTo(expected);
    }
  }

  @Test
  void aPyTorch113ClientSendsNoValidationAndItsOwnCodes() throws Exception {
    byte[] throughWait = concat(frame((byte) 0, "/k", "v"), frame((byte) 5, 1L, "/k"));
    byte[] get = frame((byte) 2, "/k");
    byte[] expected = concat(throughWait, get);
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      CompletableFuture<byte[]> received =
          serveOnce(server, throughWait.length, get.length, "v".getBytes(StandardCharsets.UTF_8));
      try (TcpStoreWireClient c = new TcpStoreWireClient("127.0.0.1", server.getLocalPort(),
          TcpStoreDialect.PYTORCH_1_13)) {
        c.set("k", "v".getBytes(StandardCharsets.UTF_8));
        assertThat(c.get("k")).asString(StandardCharsets.UTF_8).isEqualTo("v");
      }
      assertThat(received.get(10, TimeUnit.SECONDS)).isEqualTo(expected);
    }
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }
}
