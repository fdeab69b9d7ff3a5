package io.elasticmoe.worker.store;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.locks.LockSupport;

/**
 * A cross-process {@link KeyValueStore} for ranks on one host without a rendezvous (the dataplane
 * benchmark, multi-process tests, {@code run --store-dir}): one file per key in a
 * shared directory, written by atomic rename so a reader never sees half a value; counters are updated
 * under an exclusive file lock (plus a JVM lock, since one JVM may not hold two overlapping file locks).
 */
public final class DirectoryKeyValueStore implements KeyValueStore {

  private static final Object JVM_LOCK = new Object();
  private final Path directory;

  public DirectoryKeyValueStore(Path directory) {
    this.directory = directory;
  }

  private Path file(String key) {
    return directory.resolve(URLEncoder.encode(key, StandardCharsets.UTF_8));
  }

  @Override
  public void set(String key, byte[] value) {
    try {
      Path temporary = directory.resolve(".tmp-" + UUID.randomUUID());
      Files.write(temporary, value);
      Files.move(temporary, file(key), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public byte[] get(String key, Duration timeout) throws StoreTimeoutException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      try {
        return Files.readAllBytes(file(key));
      } catch (NoSuchFileException e) {
        if (System.nanoTime() > deadline) {
          throw new StoreTimeoutException(List.of(key), timeout);
        }
        // A file system has no change notification that works across processes here: poll.
        LockSupport.parkNanos(1_000_000);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  @Override
  public long add(String key, long delta) {
    synchronized (JVM_LOCK) {
      try (FileChannel lockChannel =
              FileChannel.open(directory.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
          FileLock ignored = lockChannel.lock()) {
        Path counter = file(key);
        long value = Files.exists(counter) ? ByteBuffer.wrap(Files.readAllBytes(counter)).getLong() : 0;
        value += delta;
        set(key, ByteBuffer.allocate(8).putLong(value).array());
        return value;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  @Override
  public boolean deleteKey(String key) {
    try {
      return Files.deleteIfExists(file(key));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {}
}
