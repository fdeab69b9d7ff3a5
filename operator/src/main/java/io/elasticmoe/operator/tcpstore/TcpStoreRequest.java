package io.elasticmoe.operator.tcpstore;

import java.util.List;

/** One decoded TCPStore query. Keys are the client's bytes read as UTF-8, the gRPC store's key form. */
public sealed interface TcpStoreRequest {

  record Validate(int magic) implements TcpStoreRequest {}

  record Set(String key, byte[] value) implements TcpStoreRequest {}

  record CompareSet(String key, byte[] expected, byte[] desired) implements TcpStoreRequest {}

  record Get(String key) implements TcpStoreRequest {}

  record Add(String key, long delta) implements TcpStoreRequest {}

  record Check(List<String> keys) implements TcpStoreRequest {}

  record Wait(List<String> keys) implements TcpStoreRequest {}

  record GetNumKeys() implements TcpStoreRequest {}

  record DeleteKey(String key) implements TcpStoreRequest {}

  record Append(String key, byte[] suffix) implements TcpStoreRequest {}

  record MultiGet(List<String> keys) implements TcpStoreRequest {}

  record MultiSet(List<String> keys, List<byte[]> values) implements TcpStoreRequest {}

  record CancelWait() implements TcpStoreRequest {}

  record Ping(int nonce) implements TcpStoreRequest {}

  record ListKeys() implements TcpStoreRequest {}
}
