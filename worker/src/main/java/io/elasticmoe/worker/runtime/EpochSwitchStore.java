package io.elasticmoe.worker.runtime;

import io.elasticmoe.worker.store.KeyValueStore;
import io.elasticmoe.worker.store.StoreTimeoutException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Optional;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.InflaterInputStream;

/**
 * The store keys of the collective switch ({@link EpochSwitchPlanner}), under {@code EPOCH_SWITCH/}:
 * per world {@code {id}/announced} (the counter read at every checkpoint), {@code {id}/next} (the
 * successor) and {@code {id}/done} (ranks that have read both), plus {@code current} (the world running now, read by ranks waiting to join), {@code joining/{rank}}
 * (a process of that rank waits to join),
 * {@code founder/{epoch}} (elects the rank that names a world when none runs) and {@code placement/{version}}
 * (the encoded placement a world routes by: written by whoever names the world, before naming it, so
 * every rank switching to or joining the world installs the same bytes, even one that never received
 * that version itself).
 */
public final class EpochSwitchStore {

  static final String PREFIX = "EPOCH_SWITCH/";
  private static final String CURRENT = PREFIX + "current";

  private final KeyValueStore store;
  private final Duration timeout;

  /** {@code timeout} bounds reads of keys that must exist already (a successor announced earlier). */
  public EpochSwitchStore(KeyValueStore store, Duration timeout) {
    this.store = store;
    this.timeout = timeout;
  }

  /** The checkpoint read: adding 0 reads the counter without blocking (0 when nobody announced). */
  public long announcements(AgreedWorld from) {
    return store.add(PREFIX + from.id() + "/announced", 0);
  }

  /** The successor first, then the counter: whoever sees the counter finds the successor. */
  public void announce(AgreedWorld from, long targetStep, AgreedWorld next) {
    store.set(PREFIX + from.id() + "/next", next.encode());
    store.add(PREFIX + from.id() + "/announced", EpochSwitchPlanner.announcement(targetStep));
  }

  /**
   * Stored deflated: the message pads log2phy with −1, ten bytes each as a varint, so a DeepSeek-V3-sized
   * placement (61 layers, 256 experts, 288 slots) is ≈ 0.99 MB raw, at the rendezvous store's default
   * 1 MiB value limit, and ≈ 62 KB deflated (≈ 12 ms to deflate, once per new version, by the announcer).
   */
  public void publishPlacement(ObservedPlacement placement) {
    ByteArrayOutputStream deflated = new ByteArrayOutputStream();
    try (DeflaterOutputStream out = new DeflaterOutputStream(deflated)) {
      out.write(placement.encoded());
    } catch (IOException e) {
      throw new UncheckedIOException("deflating into memory failed", e);
    }
    store.set(PREFIX + "placement/" + placement.version(), deflated.toByteArray());
  }

  /** The encoded placement of {@code version}, published before any world routing by it was named. */
  public byte[] placement(long version) throws StoreTimeoutException {
    byte[] deflated = store.get(PREFIX + "placement/" + version, timeout);
    try (InflaterInputStream in = new InflaterInputStream(new ByteArrayInputStream(deflated))) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new IllegalStateException("placement version " + version + " in the store is not deflated data", e);
    }
  }

  public AgreedWorld successor(AgreedWorld from) throws StoreTimeoutException {
    return AgreedWorld.decode(store.get(PREFIX + from.id() + "/next", timeout));
  }

  /**
   * Counts this rank out of {@code world} after it read the successor {@code next} (and its placement);
   * the last of its ranks drops the world's keys, and its placement when {@code next} routes by another
   * one (worlds follow each other, so no later world names it again). A rank that died in the world never
   * counts itself out, so a world that lost a rank leaves its small keys behind (bounded by the number of
   * losses, not of steps).
   */
  public void leftWorld(AgreedWorld world, AgreedWorld next) {
    String done = PREFIX + world.id() + "/done";
    if (store.add(done, 1) == world.ranks().length) {
      store.deleteKey(PREFIX + world.id() + "/announced");
      store.deleteKey(PREFIX + world.id() + "/next");
      store.deleteKey(done);
      if (world.placementVersion() != next.placementVersion() && world.placementVersion() > 0) {
        store.deleteKey(PREFIX + "placement/" + world.placementVersion());
      }
    }
  }

  /**
   * Marks a process of {@code rank} as waiting to join. A world that drained {@code rank} keeps it out of
   * epochs that still list it, unless this mark says the listing is a new process.
   */
  public void markJoining(int rank) {
    store.add(PREFIX + "joining/" + rank, 1);
  }

  public void clearJoining(int rank) {
    store.deleteKey(PREFIX + "joining/" + rank);
  }

  public boolean isJoining(int rank) {
    return store.add(PREFIX + "joining/" + rank, 0) > 0;
  }

  public void publishCurrent(AgreedWorld world) {
    store.set(CURRENT, world.encode());
  }

  /** The running world, or empty when none was founded yet (waits at most {@code wait}). */
  public Optional<AgreedWorld> current(Duration wait) {
    try {
      return Optional.of(AgreedWorld.decode(store.get(CURRENT, wait)));
    } catch (StoreTimeoutException e) {
      return Optional.empty();
    }
  }

  /** True for exactly one caller per epoch: the rank that names the epoch's world. */
  public boolean claimFounding(long epoch) {
    return store.add(PREFIX + "founder/" + epoch, 1) == 1;
  }
}
