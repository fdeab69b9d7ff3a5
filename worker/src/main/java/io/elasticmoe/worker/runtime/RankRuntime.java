package io.elasticmoe.worker.runtime;

import io.elasticmoe.worker.store.StoreTimeoutException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * The rank's data-plane lifecycle, as a sequencer: {@link EpochSwitchPlanner} decides when the world
 * changes and to what, {@link WorldChangePlanner} what that means for the connections; this class reads
 * and writes the store through {@link EpochSwitchStore} and applies the result to the backend.
 *
 * <p>The caller runs one MoE step each time {@link #beforeStep} returns RUNNING. States: IDLE (no world:
 * waiting to found the first one or to be let into the running one) → RUNNING (connected to every rank
 * of {@link #world()}) → IDLE again (left a world after REJOIN), DRAINED (left after DRAIN: the caller
 * tells the rendezvous) or EXITED. Invariants: while RUNNING the connected set is the world minus this
 * rank, and every rank of the world has run the same number of steps in it; views and placements arrive
 * through {@link ObservedViews} from any thread but change the data plane, or the placement handed to
 * the caller through {@link Switch#placement}, only at a checkpoint that all ranks of the world agreed on.
 */
public final class RankRuntime {

  public enum State {
    IDLE,
    RUNNING,
    DRAINED,
    EXITED
  }

  /**
   * {@code checkpointInterval}: steps between two store reads (a switch lands 1–2 intervals after the
   * first rank learns of a new world); {@code joinPoll}: how long one {@link #beforeStep} of an idle rank
   * waits for the running world's key; {@code staleWorldAfter}: how long an idle rank assigned a newer
   * epoch waits for the running world to switch to it before it takes that world for gone (all its
   * processes were replaced) and founds the epoch itself. Longer than a data-plane timeout plus a connect.
   */
  public record Settings(int checkpointInterval, Duration joinPoll, Duration staleWorldAfter) {
    public Settings {
      if (checkpointInterval < 1) {
        throw new IllegalArgumentException("checkpoint interval is " + checkpointInterval + "; it must be at least 1");
      }
    }
  }

  /**
   * One change of world as this rank applied it: {@code from} is null when it joined. {@code placement}
   * is the encoded placement of {@code to.placementVersion()} when this rank must install it before its
   * next step: on a join into a world with a version, or when the world's version changed.
   */
  public record Switch(AgreedWorld from, AgreedWorld to, long atStep, boolean stayed,
      Optional<StoreTimeoutException> connectTimeout, Optional<byte[]> placement) {}

  private final DispatchBackend backend;
  private final EpochSwitchStore switches;
  private final ObservedViews views;
  private final int checkpointInterval;
  private final Settings settings;
  private final LongSupplier nanoClock;
  private final Consumer<Switch> onSwitch;
  private final Set<Integer> connected = new TreeSet<>();
  private State state = State.IDLE;
  private AgreedWorld world;
  private long steps;
  private long lastLeftEpoch = -1;
  private long foundingTriedFor = -1;
  private boolean markedJoining;
  private Optional<AgreedWorld> lastSeenCurrent = Optional.empty();
  private long lastSeenCurrentSince;

  /** {@code nanoClock} times how long the running world stayed unchanged ({@link System#nanoTime}). */
  public RankRuntime(DispatchBackend backend, EpochSwitchStore switches, ObservedViews views, Settings settings,
      LongSupplier nanoClock, Consumer<Switch> onSwitch) {
    this.backend = backend;
    this.switches = switches;
    this.views = views;
    this.settings = settings;
    this.checkpointInterval = settings.checkpointInterval();
    this.nanoClock = nanoClock;
    this.onSwitch = onSwitch;
    this.lastSeenCurrentSince = nanoClock.getAsLong();
  }

  public State state() {
    return state;
  }

  /** The epoch of the world this rank steps in, or of the last one it left; −1 before any. */
  public long epoch() {
    return world != null ? world.epoch() : lastLeftEpoch;
  }

  /** The world this rank steps in; empty unless RUNNING. */
  public Optional<AgreedWorld> world() {
    return Optional.ofNullable(world);
  }

  /**
   * After the caller's last step, before it closes the backend: lets the peers finish their last step
   * first ({@link DispatchBackend#finishWorld}).
   */
  public void finish() {
    if (world != null) {
      backend.finishWorld(world.id());
    }
  }

  /** Steps run in the current world (equal on all its ranks). */
  public long steps() {
    return steps;
  }

  /**
   * Call before every step: joins or switches worlds when due; returns RUNNING when the caller must run
   * the next step now, IDLE when it should wait a little and call again, DRAINED or EXITED when done.
   */
  public State beforeStep() throws StoreTimeoutException {
    if (state == State.IDLE) {
      join();
    } else if (state == State.RUNNING && EpochSwitchPlanner.isCheckpoint(steps, checkpointInterval)) {
      checkpoint();
    }
    if (state == State.RUNNING) {
      steps++;
    }
    return state;
  }

  private int self() {
    return backend.rank();
  }

  private void checkpoint() throws StoreTimeoutException {
    long counter = switches.announcements(world);
    Optional<WorldView> newest = views.newest();
    Set<Integer> rejoining = new TreeSet<>();
    if (counter == 0 && newest.isPresent() && newest.get().epoch() > world.epoch()) {
      // Rare: only when the world drained a rank that the newer epoch still lists.
      EpochSwitchPlanner.drainedStillListed(world, newest.get()).stream().filter(switches::isJoining).forEach(rejoining::add);
    }
    // The Watch listener may add placements meanwhile: publish the very one the proposal names.
    Map<Long, Optional<ObservedPlacement>> placements = new HashMap<>();
    Optional<AgreedWorld> proposal = EpochSwitchPlanner.proposal(self(), world, newest, rejoining,
        epoch -> placements.computeIfAbsent(epoch, views::placementFor)
            .map(p -> OptionalLong.of(p.version())).orElse(OptionalLong.empty()));
    switch (EpochSwitchPlanner.decide(steps, checkpointInterval, counter, proposal.isPresent())) {
      case ANNOUNCE -> {
        AgreedWorld next = proposal.orElseThrow();
        if (next.placementVersion() != world.placementVersion()) {
          // Published before the successor names it: a rank that never received it reads it at the switch.
          switches.publishPlacement(placements.get(next.epoch()).orElseThrow());
        }
        switches.announce(world, steps + checkpointInterval, next);
      }
      case SWITCH -> {
        backend.finishWorld(world.id());
        AgreedWorld next = switches.successor(world);
        Optional<byte[]> placement = next.contains(self()) && next.placementVersion() != world.placementVersion()
            ? Optional.of(switches.placement(next.placementVersion())) : Optional.empty();
        switches.leftWorld(world, next);
        switchTo(next, placement);
      }
      case CONTINUE, PENDING -> {}
    }
  }

  private void switchTo(AgreedWorld next, Optional<byte[]> placement) {
    AgreedWorld from = world;
    long at = steps;
    if (!next.contains(self())) {
      leave(from, next, at);
      return;
    }
    WorldChange change = EpochSwitchPlanner.change(self(), connected, backend.queryMask(), from, next);
    backend.disconnect(change.disconnect());
    Arrays.stream(change.disconnect()).forEach(connected::remove);
    // Ranks waiting to join find the new world here; they connect to it with us.
    switches.publishCurrent(next);
    Optional<StoreTimeoutException> timeout =
        next.epoch() > from.epoch() ? connect(change.epoch(), change.connect(), change.world()) : Optional.empty();
    enter(next);
    onSwitch.accept(new Switch(from, next, at, true, timeout, placement));
  }

  private void leave(AgreedWorld from, AgreedWorld next, long at) {
    backend.disconnect(connected.stream().mapToInt(Integer::intValue).toArray());
    connected.clear();
    backend.cleanMask();
    world = null;
    steps = 0;
    lastLeftEpoch = next.epoch();
    WorldView.Directive directive = views.newest().map(WorldView::directive).orElse(WorldView.Directive.REJOIN);
    state = switch (directive) {
      case EXIT -> State.EXITED;
      case DRAIN -> State.DRAINED;
      case RUN, REJOIN -> State.IDLE;
    };
    onSwitch.accept(new Switch(from, next, at, false, Optional.empty(), Optional.empty()));
  }

  private void join() {
    Optional<WorldView> newest = views.newest();
    if (newest.isEmpty()) {
      return;
    }
    switch (newest.get().directive()) {
      case EXIT -> state = State.EXITED;
      case DRAIN -> state = State.DRAINED; // not in a world: nothing to drain
      case RUN, REJOIN -> joinAgreedWorld(newest.get());
    }
  }

  private void joinAgreedWorld(WorldView newest) {
    if (!markedJoining) {
      switches.markJoining(self());
      markedJoining = true;
    }
    Optional<AgreedWorld> current = switches.current(settings.joinPoll());
    long now = nanoClock.getAsLong();
    if (!current.equals(lastSeenCurrent)) {
      lastSeenCurrent = current;
      lastSeenCurrentSince = now;
    }
    Duration unchanged = Duration.ofNanos(now - lastSeenCurrentSince);
    if (foundingTriedFor != newest.epoch()
        && EpochSwitchPlanner.mayFound(self(), newest, current, unchanged, settings.staleWorldAfter())) {
      // One rank names the world of its newest epoch; it is the world a running one would switch to.
      foundingTriedFor = newest.epoch();
      if (switches.claimFounding(newest.epoch())) {
        Optional<ObservedPlacement> placement = views.placementFor(newest.epoch());
        placement.ifPresent(switches::publishPlacement);
        AgreedWorld first = new AgreedWorld(newest.epoch(), 0, newest.activeRanks(), new int[0],
            placement.map(ObservedPlacement::version).orElse(0L));
        switches.publishCurrent(first);
        current = Optional.of(first);
      }
    }
    if (current.isEmpty()
        || !EpochSwitchPlanner.joinable(self(), current.get(), lastLeftEpoch, views.at(current.get().epoch()))) {
      return;
    }
    AgreedWorld agreed = current.get();
    Optional<byte[]> placement = Optional.empty();
    if (agreed.placementVersion() > 0) {
      try {
        placement = Optional.of(switches.placement(agreed.placementVersion()));
      } catch (StoreTimeoutException e) {
        // The world switched to another placement meanwhile and its last rank dropped this one: the next
        // look at the running world finds the successor.
        return;
      }
    }
    int[] peers = Arrays.stream(agreed.ranks()).filter(r -> r != self()).toArray();
    Optional<StoreTimeoutException> timeout = connect(agreed.epoch(), peers, agreed.ranks());
    switches.clearJoining(self());
    markedJoining = false;
    enter(agreed);
    onSwitch.accept(new Switch(null, agreed, 0, true, timeout, placement));
  }

  /**
   * A connect that times out (a joining rank died before it published its metadata, or a member died
   * before the barrier) leaves the world running with the ranks that answered: the backend has no live
   * endpoint to the missing one, and the membership's next epoch removes it.
   */
  private Optional<StoreTimeoutException> connect(long epoch, int[] peers, int[] ranks) {
    Optional<StoreTimeoutException> timeout = Optional.empty();
    try {
      backend.connect(epoch, peers, ranks, true);
    } catch (StoreTimeoutException e) {
      timeout = Optional.of(e);
    }
    Arrays.stream(peers).forEach(connected::add);
    return timeout;
  }

  private void enter(AgreedWorld next) {
    world = next;
    steps = 0;
    state = State.RUNNING;
    views.forgetBefore(next.epoch());
  }
}
