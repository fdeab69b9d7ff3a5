package io.elasticmoe.api.tcpstore;

import java.util.List;

/**
 * The two numberings of TCPStore query types that clients send, and how a connection's first bytes
 * tell them apart.
 *
 * <ul>
 *   <li>{@link #PYTORCH_2}: PyTorch 2.2 and later. The first query is {@code VALIDATE} (byte 0)
 *       followed by the little-endian {@code uint32} {@link #VALIDATION_MAGIC}.
 *   <li>{@link #PYTORCH_1_13}: PyTorch 1.13 (Debian's {@code python3-torch}) and 2.0. No validation;
 *       byte 0 is {@code SET}.
 * </ul>
 *
 * <p>A connection whose first byte is 0 and whose next four bytes are the magic is a 2.x client: a
 * 1.13 {@code SET} there would announce a key of at least 0x3C85F7CE bytes, far beyond any key limit,
 * so no valid 1.13 frame is misread. Any other start is 1.13. PyTorch 2.1 (no validation, WATCH_KEY
 * removed) numbers DELETE_KEY and later differently from both and is not supported.
 */
public enum TcpStoreDialect {
  PYTORCH_1_13(
      List.of(
          TcpStoreOp.SET,
          TcpStoreOp.COMPARE_SET,
          TcpStoreOp.GET,
          TcpStoreOp.ADD,
          TcpStoreOp.CHECK,
          TcpStoreOp.WAIT,
          TcpStoreOp.GET_NUM_KEYS,
          TcpStoreOp.WATCH_KEY,
          TcpStoreOp.DELETE_KEY,
          // 2.0 appended these four to the 1.13 numbering.
          TcpStoreOp.APPEND,
          TcpStoreOp.MULTI_GET,
          TcpStoreOp.MULTI_SET,
          TcpStoreOp.CANCEL_WAIT)),
  PYTORCH_2(
      List.of(
          TcpStoreOp.VALIDATE,
          TcpStoreOp.SET,
          TcpStoreOp.COMPARE_SET,
          TcpStoreOp.GET,
          TcpStoreOp.ADD,
          TcpStoreOp.CHECK,
          TcpStoreOp.WAIT,
          TcpStoreOp.GET_NUM_KEYS,
          TcpStoreOp.DELETE_KEY,
          TcpStoreOp.APPEND,
          TcpStoreOp.MULTI_GET,
          TcpStoreOp.MULTI_SET,
          TcpStoreOp.CANCEL_WAIT,
          TcpStoreOp.PING,
          TcpStoreOp.QUEUE_PUSH,
          TcpStoreOp.QUEUE_POP,
          TcpStoreOp.QUEUE_LEN,
          TcpStoreOp.LIST_KEYS,
          TcpStoreOp.BARRIER));

  /** {@code c10d::detail::validationMagicNumber}. */
  public static final int VALIDATION_MAGIC = 0x3C85F7CE;

  private final List<TcpStoreOp> opsByCode;

  TcpStoreDialect(List<TcpStoreOp> opsByCode) {
    this.opsByCode = opsByCode;
  }

  /** The op for a query-type byte, or null when this dialect has no such code. */
  public TcpStoreOp op(int code) {
    return code >= 0 && code < opsByCode.size() ? opsByCode.get(code) : null;
  }

  /** The byte a client of this dialect sends for {@code op}; -1 when the dialect lacks it. */
  public int code(TcpStoreOp op) {
    return opsByCode.indexOf(op);
  }

  public int maxCode() {
    return opsByCode.size() - 1;
  }

  /** The numbering a client of {@code torch.__version__} (e.g. {@code 2.11.0+cpu}, {@code 1.13.1}) speaks. */
  public static TcpStoreDialect ofTorchVersion(String version) {
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
