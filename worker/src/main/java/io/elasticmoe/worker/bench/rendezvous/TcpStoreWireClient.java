package io.elasticmoe.worker.bench.rendezvous;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import io.elasticmoe.api.tcpstore.TcpStoreOp;
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
 * STOP_WAITING, then sends GET. One connection; not thread-safe. Query-type codes come from
 * {@link TcpStoreDialect}, the numbering the operator's TCPStore endpoint serves.
 */
public final class TcpStoreWireClient implements AutoCloseable {
  private static final int STOP_WAITING = 0;
  private static final String KEY_PREFIX = "/";

  private final byte setCode;
  private final byte getCode;
  private final byte waitCode;
  private final Socket socket;
  private final OutputStream out;
  private final DataInputStream in;
  private final ByteBuffer frame = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
  private final byte[] i64 = new byte[8];

  public TcpStoreWireClient(String host, int port, TcpStoreDialect dialect) throws IOException {
    this.setCode = (byte) dialect.code(TcpStoreOp.SET);
    this.getCode = (byte) dialect.code(TcpStoreOp.GET);
    this.waitCode = (byte) dialect.code(TcpStoreOp.WAIT);
    this.socket = new Socket();
    socket.setTcpNoDelay(true);
    socket.connect(new InetSocketAddress(host, port), 10_000);
    socket.setSoTimeout(60_000);
    this.out = socket.getOutputStream();
    this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
    if (dialect == TcpStoreDialect.PYTORCH_2) {
      frame.clear();
      frame.put((byte) dialect.code(TcpStoreOp.VALIDATE)).putInt(TcpStoreDialect.VALIDATION_MAGIC);
      send();
    }
  }

  public void set(String key, byte[] value) throws IOException {
    frame.clear();
    frame.put(setCode);
    putBytes(key(key));
    putBytes(value);
    send();
  }

  /** Blocks until the key exists (the server's wait, up to the socket timeout), then reads it. */
  public byte[] get(String key) throws IOException {
    byte[] k = key(key);
    frame.clear();
    frame.put(waitCode).putLong(1);
    putBytes(k);
    send();
    int answer = in.readUnsignedByte();
    if (answer != STOP_WAITING) {
      throw new IOException("TCPStore answered WAIT for " + key + " with " + answer + ", expected STOP_WAITING (0)");
    }
    frame.clear();
    frame.put(getCode);
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
