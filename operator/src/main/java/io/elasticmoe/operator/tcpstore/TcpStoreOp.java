package io.elasticmoe.operator.tcpstore;

/**
 * The query types of PyTorch's {@code TCPStore} wire protocol, independent of their numbering (which
 * differs between client generations: see {@link TcpStoreDialect}).
 */
public enum TcpStoreOp {
  /** 2.x only: the first query of a connection, carrying {@link TcpStoreDialect#VALIDATION_MAGIC}. */
  VALIDATE,
  SET,
  COMPARE_SET,
  GET,
  ADD,
  CHECK,
  WAIT,
  GET_NUM_KEYS,
  /** 1.13 only: registers a callback connection; not served (see docs/tcpstore.md). */
  WATCH_KEY,
  DELETE_KEY,
  APPEND,
  MULTI_GET,
  MULTI_SET,
  CANCEL_WAIT,
  PING,
  /** Queue ops and the ops after them exist only with the libuv server of recent 2.x; not served. */
  QUEUE_PUSH,
  QUEUE_POP,
  QUEUE_LEN,
  LIST_KEYS,
  BARRIER
}
