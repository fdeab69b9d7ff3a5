package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import io.elasticmoe.api.tcpstore.TcpStoreOp;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Decodes TCPStore queries from a connection's input, one at a time, without blocking.
 *
 * <p>Wire format (PyTorch's {@code tcputil}, host order, which is little-endian on every platform
 * PyTorch ships for): one query-type byte, then per type strings and byte vectors as {@code uint64}
 * length + bytes, counts as {@code uint64}, {@code add} deltas as {@code int64}, {@code ping} nonces
 * and the validation magic as {@code uint32}.
 *
 * <p>Every length is checked against its limit as soon as it is read, before its bytes arrive, so an
 * absurd length is rejected without buffering anything. A frame as a whole is capped at {@code
 * maxFrameBytes}, which bounds the input buffer of a connection.
 */
public final class TcpStoreFrameDecoder {

  private final KeyValueLimits limits;
  private final int maxFrameBytes;

  public TcpStoreFrameDecoder(KeyValueLimits limits, int maxFrameBytes) {
    this.limits = limits;
    this.maxFrameBytes = maxFrameBytes;
  }

  /**
   * The dialect of a connection from its first bytes, or null until enough bytes are there (at most
   * five). Consumes nothing.
   */
  public static TcpStoreDialect detect(ByteBuffer in) {
    if (!in.hasRemaining()) {
      return null;
    }
    int start = in.position();
    if (in.get(start) != 0) {
      return TcpStoreDialect.PYTORCH_1_13;
    }
    if (in.remaining() < 1 + Integer.BYTES) {
      return null;
    }
    int magic = in.duplicate().order(ByteOrder.LITTLE_ENDIAN).getInt(start + 1);
    return magic == TcpStoreDialect.VALIDATION_MAGIC
        ? TcpStoreDialect.PYTORCH_2
        : TcpStoreDialect.PYTORCH_1_13;
  }

  /**
   * Decodes one query and advances {@code in} past it; returns null and leaves {@code in} where it was
   * when the query is not complete yet.
   */
  public TcpStoreRequest decode(TcpStoreDialect dialect, ByteBuffer in)
      throws TcpStoreProtocolException {
    if (!in.hasRemaining()) {
      return null;
    }
    int start = in.position();
    Frame frame = new Frame(in.duplicate().order(ByteOrder.LITTLE_ENDIAN), start);
    TcpStoreRequest request;
    try {
      request = decodeBody(dialect, frame);
    } catch (Incomplete e) {
      return null;
    }
    in.position(frame.buf.position());
    return request;
  }

  private TcpStoreRequest decodeBody(TcpStoreDialect dialect, Frame f)
      throws TcpStoreProtocolException, Incomplete {
    int code = Byte.toUnsignedInt(f.u8());
    TcpStoreOp op = dialect.op(code);
    if (op == null) {
      throw new TcpStoreProtocolException(
          "query type is "
              + code
              + "; a "
              + dialect
              + " client sends at most "
              + dialect.maxCode());
    }
    return switch (op) {
      case VALIDATE -> new TcpStoreRequest.Validate(f.u32());
      case SET -> new TcpStoreRequest.Set(f.key(), f.bytes("value"));
      case COMPARE_SET ->
          new TcpStoreRequest.CompareSet(f.key(), f.bytes("expected"), f.bytes("desired"));
      case GET -> new TcpStoreRequest.Get(f.key());
      case ADD -> new TcpStoreRequest.Add(f.key(), f.i64());
      case CHECK -> new TcpStoreRequest.Check(f.keys());
      case WAIT -> new TcpStoreRequest.Wait(f.keys());
      case GET_NUM_KEYS -> new TcpStoreRequest.GetNumKeys();
      case DELETE_KEY -> new TcpStoreRequest.DeleteKey(f.key());
      case APPEND -> new TcpStoreRequest.Append(f.key(), f.bytes("value"));
      case MULTI_GET -> new TcpStoreRequest.MultiGet(f.keys());
      case MULTI_SET -> multiSet(f);
      case CANCEL_WAIT -> new TcpStoreRequest.CancelWait();
      case PING -> new TcpStoreRequest.Ping(f.u32());
      case LIST_KEYS -> new TcpStoreRequest.ListKeys();
      case WATCH_KEY, QUEUE_PUSH, QUEUE_POP, QUEUE_LEN, BARRIER ->
          throw new TcpStoreProtocolException(
              "query type "
                  + code
                  + " ("
                  + op
                  + ") is not served by this endpoint; see docs/tcpstore.md for the ops it serves");
    };
  }

  private TcpStoreRequest multiSet(Frame f) throws TcpStoreProtocolException, Incomplete {
    int count = f.count();
    List<String> keys = new ArrayList<>(count);
    List<byte[]> values = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      keys.add(f.key());
      values.add(f.bytes("values[" + i + "]"));
    }
    return new TcpStoreRequest.MultiSet(keys, values);
  }

  /** Thrown inside decoding when the buffer ends before the frame does; never escapes. */
  private static final class Incomplete extends Exception {
    Incomplete() {
      super(null, null, false, false);
    }
  }

  private static final Incomplete INCOMPLETE = new Incomplete();

  private final class Frame {
    final ByteBuffer buf;
    final int start;

    Frame(ByteBuffer buf, int start) {
      this.buf = buf;
      this.start = start;
    }

    void need(long bytes) throws Incomplete {
      if (buf.remaining() < bytes) {
        throw INCOMPLETE;
      }
    }

    byte u8() throws Incomplete {
      need(1);
      return buf.get();
    }

    int u32() throws Incomplete {
      need(Integer.BYTES);
      return buf.getInt();
    }

    long i64() throws Incomplete {
      need(Long.BYTES);
      return buf.getLong();
    }

    /** A {@code uint64} length, checked against {@code limit} and the frame cap before its bytes. */
    int length(String field, long limit, String limitName)
        throws TcpStoreProtocolException, Incomplete {
      long length = i64();
      if (length < 0 || length > limit) {
        throw new TcpStoreProtocolException(
            field
                + " length is "
                + Long.toUnsignedString(length)
                + "; the limit ("
                + limitName
                + ") is "
                + limit);
      }
      long frameBytes = (long) buf.position() - start + length;
      if (frameBytes > maxFrameBytes) {
        throw new TcpStoreProtocolException(
            "frame would be at least "
                + frameBytes
                + " bytes; the limit (maxFrameBytes) is "
                + maxFrameBytes);
      }
      return (int) length;
    }

    String key() throws TcpStoreProtocolException, Incomplete {
      int length = length("key", limits.maxKeyBytes(), "maxKeyBytes");
      need(length);
      ByteBuffer slice = buf.slice(buf.position(), length);
      buf.position(buf.position() + length);
      try {
        return StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(slice)
            .toString();
      } catch (CharacterCodingException e) {
        // Two different byte strings must never name one store key, so undecodable keys are refused.
        throw new TcpStoreProtocolException(
            "key of " + length + " bytes is not valid UTF-8; store keys are UTF-8 strings");
      }
    }

    byte[] bytes(String field) throws TcpStoreProtocolException, Incomplete {
      int length = length(field, limits.maxValueBytes(), "maxValueBytes");
      need(length);
      byte[] value = new byte[length];
      buf.get(value);
      return value;
    }

    int count() throws TcpStoreProtocolException, Incomplete {
      long count = i64();
      if (count < 1 || count > limits.maxKeysPerRequest()) {
        throw new TcpStoreProtocolException(
            "keys count is "
                + Long.toUnsignedString(count)
                + "; it must be between 1 and "
                + limits.maxKeysPerRequest()
                + " (maxKeysPerRequest)");
      }
      return (int) count;
    }

    List<String> keys() throws TcpStoreProtocolException, Incomplete {
      int count = count();
      List<String> keys = new ArrayList<>(count);
      for (int i = 0; i < count; i++) {
        keys.add(key());
      }
      return keys;
    }
  }
}
