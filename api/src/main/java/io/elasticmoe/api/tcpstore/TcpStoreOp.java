package io.elasticmoe.api.tcpstore;

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
  /** Queue ops exist only with the libuv server of 2.7 and later; not served. */
  QUEUE_PUSH,
  QUEUE_POP,
  QUEUE_LEN,
  /** 2.11 (code 17, seen from a torch 2.11 client). */
  LIST_KEYS,
  /** PyTorch main after 2.11; not served, and its code 18 is not yet seen from a released client. */
  BARRIER
}
