package io.elasticmoe.worker.runtime;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * Every world view this rank was told about, by epoch, filled by the Watch listener while the stepping
 * thread reads it. The newest one is what this rank proposes; older ones tell a joining rank that an
 * agreed world is one it was really assigned to (a view it never saw may belong to an earlier process
 * of its rank).
 */
public final class ObservedViews {

  private final ConcurrentSkipListMap<Long, WorldView> byEpoch = new ConcurrentSkipListMap<>();

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

  /** Drops views older than {@code epoch}: once a world of that epoch runs, they are never needed. */
  public void forgetBefore(long epoch) {
    byEpoch.headMap(epoch).clear();
  }
}
