package io.elasticmoe.worker.runtime;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * Every world view this rank was told about, by epoch, filled by the Watch listener while the stepping
 * thread reads it. The newest one is what this rank proposes; older ones tell a joining rank that an
 * agreed world is one it was really assigned to (a view it never saw may belong to an earlier process
 * of its rank). Alongside, the newest placement per epoch that it received: a world of epoch E routes by
 * the newest one planned for E or earlier (versions grow with epochs, so that is the newest version that
 * knows no rank E does not).
 */
public final class ObservedViews {

  private final ConcurrentSkipListMap<Long, WorldView> byEpoch = new ConcurrentSkipListMap<>();
  private final ConcurrentSkipListMap<Long, ObservedPlacement> placementByEpoch = new ConcurrentSkipListMap<>();

  /** A later view of the same epoch (a DRAIN after the RUN) replaces the earlier one. */
  public void add(WorldView view) {
    byEpoch.put(view.epoch(), view);
  }

  public Optional<WorldView> newest() {
    return Optional.ofNullable(byEpoch.lastEntry()).map(Map.Entry::getValue);
  }

  public Optional<WorldView> at(long epoch) {
    return Optional.ofNullable(byEpoch.get(epoch));
  }

  /** Keeps {@code placement} unless a newer version for its epoch arrived first. */
  public void addPlacement(ObservedPlacement placement) {
    placementByEpoch.merge(placement.epoch(), placement, (had, got) -> got.version() > had.version() ? got : had);
  }

  /** The newest placement planned for {@code epoch} or an earlier one that this rank received. */
  public Optional<ObservedPlacement> placementFor(long epoch) {
    return Optional.ofNullable(placementByEpoch.floorEntry(epoch)).map(Map.Entry::getValue);
  }

  /**
   * Drops views older than {@code epoch}, and placements older than the one a world of {@code epoch}
   * routes by: once such a world runs, they are never needed.
   */
  public void forgetBefore(long epoch) {
    byEpoch.headMap(epoch).clear();
    Optional.ofNullable(placementByEpoch.floorKey(epoch)).ifPresent(kept -> placementByEpoch.headMap(kept).clear());
  }
}
