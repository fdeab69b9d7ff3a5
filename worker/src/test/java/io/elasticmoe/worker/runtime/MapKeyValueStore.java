package io.elasticmoe.worker.runtime;

import io.elasticmoe.worker.store.KeyValueStore;
import io.elasticmoe.worker.store.StoreTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A store for single-threaded simulations of many ranks: a missing key times out at once, since nobody
 * else can set it while the caller would wait.
 */
final class MapKeyValueStore implements KeyValueStore {

  final Map<String, byte[]> values = new HashMap<>();

  @Override
  public void set(String key, byte[] value) {
    values.put(key, value.clone());
  }

  @Override
  public byte[] get(String key, Duration timeout) throws StoreTimeoutException {
    byte[] value = values.get(key);
    if (value == null) {
      throw new StoreTimeoutException(List.of(key), timeout);
    }
    return value.clone();
  }

  @Override
  public long add(String key, long delta) {
    long sum = (values.containsKey(key) ? ByteBuffer.wrap(values.get(key)).getLong() : 0) + delta;
    values.put(key, ByteBuffer.allocate(8).putLong(sum).array());
    return sum;
  }

  @Override
  public boolean deleteKey(String key) {
    return values.remove(key) != null;
  }

  @Override
  public void close() {}
}
