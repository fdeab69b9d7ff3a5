package io.elasticmoe.worker.runtime;

import io.elasticmoe.worker.store.StoreTimeoutException;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * The rank's data-plane lifecycle, as a sequencer: it asks {@link WorldChangePlanner} what a new
 * {@link WorldView} means and applies it to the backend, nothing else.
 *
 * <p>States: {@code IDLE} (no world yet, or after REJOIN/DRAIN: no peers connected) → {@code RUNNING}
 * (connected to every active rank of {@link #epoch()}) → {@code EXITED}. Invariants: while RUNNING the
 * connected set equals the world minus this rank; a view of an epoch not newer than the current one is
 * ignored (epochs are the fencing token); after EXIT no view is applied.
 */
public final class RankRuntime {

  public enum State {
    IDLE,
    RUNNING,
    EXITED
  }

  private final DispatchBackend backend;
  private final Set<Integer> connected = new TreeSet<>();
  private State state = State.IDLE;
  private long epoch = -1;
  private int[] world = new int[0];

  public RankRuntime(DispatchBackend backend) {
    this.backend = backend;
  }

  public State state() {
    return state;
  }

  public long epoch() {
    return epoch;
  }

  public int[] world() {
    return world.clone();
  }

  /** Applies a view; returns false when it was stale or the runtime has exited. */
  public boolean apply(WorldView view) throws StoreTimeoutException {
    if (state == State.EXITED || view.epoch() <= epoch) {
      return false;
    }
    WorldChange change = WorldChangePlanner.plan(backend.rank(), connected, backend.queryMask(), view);
    backend.disconnect(change.disconnect());
    Arrays.stream(change.disconnect()).forEach(connected::remove);
    epoch = view.epoch();
    world = change.world();
    switch (view.directive()) {
      case RUN -> {
        // Connect after disconnect: a rank that came back must not be reached through its old endpoint.
        backend.connect(change.epoch(), change.connect(), change.world(), true);
        Arrays.stream(change.connect()).forEach(connected::add);
        state = State.RUNNING;
      }
      case DRAIN, REJOIN -> {
        backend.cleanMask();
        state = State.IDLE;
      }
      case EXIT -> state = State.EXITED;
    }
    return true;
  }
}
