package io.elasticmoe.operator.rendezvous.core;

/**
 * What one namespace (or the whole store) holds right now.
 *
 * @param keys number of keys
 * @param bytes sum of key (UTF-8) and value bytes, the figure the byte quota limits
 * @param waiters pending blocking calls (get, wait, multi_get)
 * @param watchedKeys distinct keys that at least one pending call waits for
 */
public record KeyValueStats(long keys, long bytes, long waiters, long watchedKeys) {

  public static final KeyValueStats EMPTY = new KeyValueStats(0, 0, 0, 0);

  KeyValueStats plus(KeyValueStats other) {
    return new KeyValueStats(
        keys + other.keys,
        bytes + other.bytes,
        waiters + other.waiters,
        watchedKeys + other.watchedKeys);
  }
}
