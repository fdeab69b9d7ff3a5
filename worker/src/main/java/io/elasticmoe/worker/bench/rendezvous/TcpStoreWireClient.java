package io.elasticmoe.worker.bench.rendezvous;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * A Java client of PyTorch's {@code TCPStore} wire protocol with exactly what the store benchmark needs,
 * set and blocking get, framed as {@code torch.distributed.TCPStore(..., is_master=False)} frames them:
 * keys get the client's {@code "/"} prefix, {@code get} first sends WAIT for the key, reads
 * STOP_WAITING, then sends GET. One connection; not thread-safe.
 *
 * <p>Query-type numbering differs by client generation: {@link Dialect#PYTORCH_2} (2.2 and later,
 * which opens with VALIDATE and the magic) and {@link Dialect#PYTORCH_1_13} (1.13 and 2.0). The
 * operator's {@code tcpstore} package documents both from the server side.
 */
public final class TcpStoreWireClient implements AutoCloseable {
  /** c10d::detail::validationMagicNumber. */
  private static final int VALIDATION_MAGIC = 0x3C85F7CE;
  private static final int STOP_WAITING = 0;
  private static final String KEY_PREFIX = "/";

  /** The query-type codes of one client generation. */
  public enum Dialect {
    PYTORCH_1_13(-1, 0, 2, 5),
    PYTORCH_2(0, 1, 3, 6);

    final int validate;
    final int set;
    final int get;
    final int await;

    Dialect(int validate, int set, int get, int await) {
      this.validate = validate;
      this.set = set;
      this.get = get;
      this.await = await;
    }

    /** The dialect of a {@code torch.__version__} string such as {@code 2.11.0+cpu} or {@code 1.13.1}. */
    public static Dialect ofTorchVersion(String version) {
      String[] parts = version.split("[.+]");
      int major = Integer.parseInt(parts[0]);
      int minor = Integer.parseInt(parts[1]);
      if (major == 1 && minor == 13 || major == 2 && minor == 0) {
        return PYTORCH_1_13;
      }
      if (major == 2 && minor >= 2 || major > 2) {
        return PYTORCH_2;
      }
      throw new IllegalArgumentException("torch " + version + " has a TCPStore numbering this client does not speak "
          + "(1.13, 2.0 and 2.2 or later are supported; 2.1 renumbered its ops)");
    }
  }

  private final Dialect dialect;
  private final Socket socket;
  private final OutputStream out;
  private final DataInputStream in;
  private final ByteBuffer frame = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
  private final byte[] i64 = new byte[8];

  public TcpStoreWireClient(String host, int port, Dialect dialect) throws IOException {
    this.dialect = dialect;
    this.socket = new Socket();
    socket.setTcpNoDelay(true);
    socket.connect(new InetSocketAddress(host, port), 10_000);
    socket.setSoTimeout(60_000);
    this.out = socket.getOutputStream();
    this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
    if (dialect.validate >= 0) {
      frame.clear();
      frame.put((byte) dialect.validate).putInt(VALIDATION_MAGIC);
      send();
    }
  }

  public void set(String key, byte[] value) throws IOException {
    frame.clear();
    frame.put((byte) dialect.set);
    putBytes(key(key));
    putBytes(value);
    send();
  }

  /** Blocks until the key exists (the server's wait, up to the socket timeout), then reads it. */
  public byte[] get(String key) throws IOException {
    byte[] k = key(key);
    frame.clear();
    frame.put((byte) dialect.await).putLong(1);
    putBytes(k);
    send();
    int answer = in.readUnsignedByte();
    if (answer != STOP_WAITING) {
      throw new IOException("TCPStore answered WAIT for " + key + " with " + answer + ", expected STOP_WAITING (0)");
    }
    frame.clear();
    frame.put((byte) dialect.get);
    putBytes(k);
    send();
    byte[] value = new byte[Math.toIntExact(readI64())];
    in.readFully(value);
    return value;
  }

  private static byte[] key(String key) {
    return (KEY_PREFIX + key).getBytes(StandardCharsets.UTF_8);
  }

  private void putBytes(byte[] bytes) {
    frame.putLong(bytes.length).put(bytes);
  }

  private void send() throws IOException {
    // One write per query: the frame is the whole request, as PyTorch's client sends it.
    out.write(frame.array(), 0, frame.position());
    out.flush();
  }

  private long readI64() throws IOException {
    in.readFully(i64);
    return ByteBuffer.wrap(i64).order(ByteOrder.LITTLE_ENDIAN).getLong();
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
