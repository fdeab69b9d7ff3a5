import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The testbox image's TCPStore client (the images carry no PyTorch): speaks the wire protocol of
 * PyTorch 2.2+ clients, as {@code torch.distributed.TCPStore(host, port, is_master=False)} would.
 *
 * <pre>TcpStoreProbe HOST PORT (set KEY VALUE | get KEY | add KEY DELTA)...</pre>
 *
 * Runs the operations in order on one connection and prints one line per operation: {@code set KEY},
 * {@code get KEY=VALUE} (get first waits for the key, as PyTorch's client does, up to 60 s) or
 * {@code add KEY=SUM}. Exits 1 with the error on any failure.
 */
public final class TcpStoreProbe {
  private static final int VALIDATION_MAGIC = 0x3C85F7CE;
  // PyTorch 2.2+ query types (c10d::detail::QueryType).
  private static final int VALIDATE = 0;
  private static final int SET = 1;
  private static final int GET = 3;
  private static final int ADD = 4;
  private static final int WAIT = 6;
  private static final int STOP_WAITING = 0;

  private final OutputStream out;
  private final DataInputStream in;

  private TcpStoreProbe(Socket socket) throws IOException {
    this.out = socket.getOutputStream();
    this.in = new DataInputStream(socket.getInputStream());
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: TcpStoreProbe HOST PORT (set KEY VALUE | get KEY | add KEY DELTA)...");
      System.exit(2);
    }
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(args[0], Integer.parseInt(args[1])), 10_000);
      socket.setSoTimeout(60_000);
      TcpStoreProbe probe = new TcpStoreProbe(socket);
      probe.send(new Frame().u8(VALIDATE).u32(VALIDATION_MAGIC));
      for (int i = 2; i < args.length; ) {
        switch (args[i]) {
          case "set" -> {
            probe.send(new Frame().u8(SET).str(args[i + 1]).str(args[i + 2]));
            System.out.println("set " + args[i + 1]);
            i += 3;
          }
          case "get" -> {
            System.out.println("get " + args[i + 1] + "=" + probe.get(args[i + 1]));
            i += 2;
          }
          case "add" -> {
            probe.send(new Frame().u8(ADD).str(args[i + 1]).i64(Long.parseLong(args[i + 2])));
            System.out.println("add " + args[i + 1] + "=" + probe.readI64());
            i += 3;
          }
          default -> throw new IllegalArgumentException("unknown operation " + args[i]);
        }
      }
    } catch (IOException | RuntimeException e) {
      System.err.println("tcpstore probe failed: " + e);
      System.exit(1);
    }
  }

  private String get(String key) throws IOException {
    send(new Frame().u8(WAIT).i64(1).str(key));
    int answer = in.readUnsignedByte();
    if (answer != STOP_WAITING) {
      throw new IOException("wait for " + key + " answered " + answer + ", expected STOP_WAITING");
    }
    send(new Frame().u8(GET).str(key));
    byte[] value = new byte[(int) readI64()];
    in.readFully(value);
    return new String(value, StandardCharsets.UTF_8);
  }

  private void send(Frame frame) throws IOException {
    out.write(frame.bytes.toByteArray());
    out.flush();
  }

  private long readI64() throws IOException {
    byte[] b = new byte[8];
    in.readFully(b);
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong();
  }

  private static final class Frame {
    final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

    Frame u8(int value) {
      bytes.write(value);
      return this;
    }

    Frame u32(int value) {
      bytes.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(value).array());
      return this;
    }

    Frame i64(long value) {
      bytes.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array());
      return this;
    }

    Frame str(String value) {
      byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
      i64(utf8.length);
      bytes.writeBytes(utf8);
      return this;
    }
  }
}
