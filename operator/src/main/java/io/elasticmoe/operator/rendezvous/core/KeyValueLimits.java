package io.elasticmoe.operator.rendezvous.core;

/**
 * Size limits of the store. Key and value limits are per request (INVALID_ARGUMENT when exceeded); the
 * byte and waiter quotas are per namespace (one deployment), so one deployment cannot starve another
 * (RESOURCE_EXHAUSTED).
 *
 * @param maxKeyBytes largest key, in UTF-8 bytes
 * @param maxValueBytes largest value after the operation (append included)
 * @param maxKeysPerRequest most keys in one multi-key call (wait, check, multi_get, multi_set)
 * @param maxBytesPerNamespace quota on the sum of key and value bytes held by one namespace
 * @param maxWaitersPerNamespace quota on pending blocking calls in one namespace
 */
public record KeyValueLimits(
    int maxKeyBytes,
    int maxValueBytes,
    int maxKeysPerRequest,
    long maxBytesPerNamespace,
    int maxWaitersPerNamespace) {

  /** 4 KiB keys, 1 MiB values, 4096 keys per call, 64 MiB and 65536 waiters per deployment. */
  public static final KeyValueLimits DEFAULTS =
      new KeyValueLimits(4 << 10, 1 << 20, 4096, 64L << 20, 65_536);

  public KeyValueLimits {
    requirePositive("maxKeyBytes", maxKeyBytes);
    requirePositive("maxValueBytes", maxValueBytes);
    requirePositive("maxKeysPerRequest", maxKeysPerRequest);
    requirePositive("maxBytesPerNamespace", maxBytesPerNamespace);
    requirePositive("maxWaitersPerNamespace", maxWaitersPerNamespace);
    if (maxBytesPerNamespace < (long) maxKeyBytes + maxValueBytes) {
      throw new IllegalArgumentException(
          "maxBytesPerNamespace is "
              + maxBytesPerNamespace
              + "; it must hold at least one largest entry, maxKeyBytes + maxValueBytes = "
              + ((long) maxKeyBytes + maxValueBytes));
    }
  }

  private static void requirePositive(String name, long value) {
    if (value <= 0) {
      throw new IllegalArgumentException(name + " is " + value + "; it must be at least 1");
    }
  }
}
