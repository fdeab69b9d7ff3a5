package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import io.elasticmoe.api.tcpstore.TcpStoreOp;
import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A TCPStore client written from the wire format, for the tests: frames are built exactly as PyTorch's
 * {@code SendBuffer} builds them, in either dialect, and can be sent whole, truncated or corrupted.
 */
final class TcpStoreWireClient implements AutoCloseable {
  final Socket socket;
  final TcpStoreDialect dialect;
  private final OutputStream out;
  private final DataInputStream in;

  TcpStoreWireClient(int port, TcpStoreDialect dialect) throws IOException {
    this(port, dialect, 0);
  }

  /** @param receiveBufferBytes 0 keeps the default; small values make a slow reader */
  TcpStoreWireClient(int port, TcpStoreDialect dialect, int receiveBufferBytes)
      throws IOException {
    this.socket = new Socket();
    if (receiveBufferBytes > 0) {
      socket.setReceiveBufferSize(receiveBufferBytes);
    }
    socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
    socket.setSoTimeout(10_000);
    socket.setTcpNoDelay(true);
    this.dialect = dialect;
    this.out = socket.getOutputStream();
    this.in = new DataInputStream(socket.getInputStream());
    if (dialect == TcpStoreDialect.PYTORCH_2) {
      send(frame(TcpStoreOp.VALIDATE).u32(TcpStoreDialect.VALIDATION_MAGIC));
    }
  }

  Frame frame(TcpStoreOp op) {
    int code = dialect.code(op);
    if (code < 0) {
      throw new IllegalArgumentException(dialect + " has no " + op);
    }
    return new Frame().u8(code);
  }

  void send(Frame frame) throws IOException {
    out.write(frame.bytes());
    out.flush();
  }

  void sendRaw(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
  }

  void set(String key, String value) throws IOException {
    send(frame(TcpStoreOp.SET).str(key).str(value));
  }

  byte[] get(String key) throws IOException {
    send(frame(TcpStoreOp.GET).str(key));
    return readBytes();
  }

  long add(String key, long delta) throws IOException {
    send(frame(TcpStoreOp.ADD).str(key).i64(delta));
    return readI64();
  }

  int readU8() throws IOException {
    return in.readUnsignedByte();
  }

  long readI64() throws IOException {
    byte[] b = new byte[8];
    in.readFully(b);
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong();
  }

  int readU32() throws IOException {
    byte[] b = new byte[4];
    in.readFully(b);
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt();
  }

  byte[] readBytes() throws IOException {
    long length = readI64();
    byte[] value = new byte[(int) length];
    in.readFully(value);
    return value;
  }

  /** Whether the server closed the connection (EOF or reset) within the socket timeout. */
  boolean closedByServer() throws IOException {
    InputStream raw = socket.getInputStream();
    try {
      while (raw.read() >= 0) {
        // drain replies that were queued before the close
      }
      return true;
    } catch (EOFException e) {
      return true;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (IOException e) {
      return e.getMessage() != null && e.getMessage().contains("reset");
    }
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }

  static final class Frame {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

    Frame u8(int value) {
      bytes.write(value);
      return this;
    }

    Frame u32(int value) {
      return raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(value).array());
    }

    Frame i64(long value) {
      return raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array());
    }

    Frame str(String value) {
      return vec(value.getBytes(UTF_8));
    }

    Frame vec(byte[] value) {
      i64(value.length);
      return raw(value);
    }

    Frame keys(String... keys) {
      i64(keys.length);
      for (String key : keys) {
        str(key);
      }
      return this;
    }

    Frame raw(byte[] value) {
      bytes.write(value, 0, value.length);
      return this;
    }

    byte[] bytes() {
      return bytes.toByteArray();
    }
  }

  static List<String> strings(List<byte[]> values) {
    List<String> result = new ArrayList<>();
    values.forEach(v -> result.add(new String(v, UTF_8)));
    return result;
  }
}
