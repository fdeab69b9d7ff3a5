package io.elasticmoe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.worker.runtime.RankRuntime.State;
import io.elasticmoe.worker.runtime.RankRuntime.Switch;
import io.elasticmoe.worker.runtime.WorldView.Directive;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class RankRuntimeTest {

  private static final int MAX_RANKS = 8;

  /** Records the lifecycle calls; the data path is not used by RankRuntime. */
  private static final class RecordingBackend implements DispatchBackend {
    final int rank;
    final List<String> calls = new ArrayList<>();
    final int[] mask = new int[MAX_RANKS];

    RecordingBackend(int rank) {
      this.rank = rank;
    }

    @Override public DispatchLayout layout() { return DispatchLayout.of(MAX_RANKS, 1, 1, 128); }
    @Override public int rank() { return rank; }
    @Override public void connect(long epoch, int[] ranks, int[] world, boolean activate) {
      calls.add("connect " + epoch + " " + Arrays.toString(ranks) + " " + Arrays.toString(world));
    }
    @Override public void disconnect(int[] ranks) {
      calls.add("disconnect " + Arrays.toString(ranks));
      Arrays.stream(ranks).forEach(r -> mask[r] = 0);
    }
    @Override public void updateMask(int rank, boolean masked) { mask[rank] = masked ? 1 : 0; }
    @Override public int[] queryMask() { return mask.clone(); }
    @Override public void cleanMask() { Arrays.fill(mask, 0); calls.add("cleanMask"); }
    @Override public DispatchResult dispatch(short[] x, int n, int[] t, int k, int e, boolean f, boolean r) {
      throw new UnsupportedOperationException("not used by RankRuntime");
    }
    @Override public short[] combine(short[] y, int[] t, float[] w, DispatchHandle h) {
      throw new UnsupportedOperationException("not used by RankRuntime");
    }
    @Override public List<PeerTimeoutException> takePeerTimeouts() { return List.of(); }
    @Override public void close() {}
  }

  /** One rank process: its runtime, the views the Watch stream has yet to deliver, what it did. */
  private static final class Rank {
    final int rank;
    final ObservedViews views = new ObservedViews();
    final RecordingBackend backend;
    final RankRuntime runtime;
    /** WorldViews and ObservedPlacements not delivered yet. */
    final Deque<Object> inbox = new ArrayDeque<>();
    final List<Switch> switches = new ArrayList<>();
    /** What the MoE layer would route by: the bytes of the last placement a switch handed over. */
    byte[] installed;
    /** Steps started per world id, kept after the rank left the world. */
    final Map<String, Long> started = new HashMap<>();
    boolean dead;

    Rank(int rank, MapKeyValueStore store, int interval) {
      this(rank, store, interval, new long[1]);
    }

    /** {@code clock[0]} is this rank's nanoTime, moved by the test. */
    Rank(int rank, MapKeyValueStore store, int interval, long[] clock) {
      this.rank = rank;
      this.backend = new RecordingBackend(rank);
      this.runtime = new RankRuntime(backend, new EpochSwitchStore(store, Duration.ofSeconds(1)), views,
          new RankRuntime.Settings(interval, Duration.ofMillis(1), Duration.ofSeconds(30)), () -> clock[0], s -> {
            switches.add(s);
            s.placement().ifPresent(encoded -> installed = encoded);
          });
    }

    void deliver(Object received) {
      if (received instanceof WorldView view) {
        views.add(view);
      } else {
        views.addPlacement((ObservedPlacement) received);
      }
    }

    State step() throws Exception {
      State state = runtime.beforeStep();
      runtime.world().ifPresent(w -> started.put(w.id(), runtime.steps()));
      return state;
    }

    String world() {
      return runtime.world().map(AgreedWorld::id).orElse("none");
    }
  }

  @Test
  void foundsGrowsAndDrainsAtAgreedSteps() throws Exception {
    MapKeyValueStore store = new MapKeyValueStore();
    Rank r0 = new Rank(0, store, 2);
    Rank r1 = new Rank(1, store, 2);
    WorldView first = new WorldView(1, new int[] {0, 1}, Directive.RUN);
    r0.deliver(first);
    r1.deliver(first);
    assertThat(r0.step()).as("founds the first world").isEqualTo(State.RUNNING);
    assertThat(r1.step()).isEqualTo(State.RUNNING);
    stepAll(r0, r1);

    WorldView grown = new WorldView(2, new int[] {0, 1, 2}, Directive.RUN);
    r0.deliver(grown); // rank 1's Watch stream lags: it never sees epoch 2 before the switch
    Rank r2 = new Rank(2, store, 2);
    r2.deliver(grown);
    assertThat(r2.step()).as("the running world is 1.0, without rank 2").isEqualTo(State.IDLE);
    stepAll(r0, r1); // checkpoint 2: rank 0 announces the switch for step 4
    stepAll(r0, r1);
    assertThat(r2.step()).as("announced, not yet switched").isEqualTo(State.IDLE);
    stepAll(r0, r1); // checkpoint 4: both switch
    assertThat(r2.step()).isEqualTo(State.RUNNING);

    r2.deliver(new WorldView(2, new int[] {0, 1, 2}, Directive.DRAIN));
    stepAll(r0, r1, r2);
    stepAll(r0, r1, r2); // checkpoint 2 of world 2.0: rank 2 announces its own removal
    stepAll(r0, r1, r2);
    assertThat(r0.step()).isEqualTo(State.RUNNING);
    assertThat(r1.step()).isEqualTo(State.RUNNING);
    assertThat(r2.step()).isEqualTo(State.DRAINED);

    // Every peer of a new epoch goes through connect (which keeps endpoints to the same processes).
    assertThat(r0.backend.calls).containsExactly("connect 1 [1] [0, 1]", "disconnect []", "connect 2 [1, 2] [0, 1, 2]", "disconnect [2]");
    assertThat(r1.backend.calls).containsExactly("connect 1 [0] [0, 1]", "disconnect []", "connect 2 [0, 2] [0, 1, 2]", "disconnect [2]");
    assertThat(r2.backend.calls).containsExactly("connect 2 [0, 1] [0, 1, 2]", "disconnect [0, 1]", "cleanMask");
    assertThat(r1.switches).extracting(s -> s.to().id() + "@" + s.atStep()).containsExactly("1.0@0", "2.0@4", "2.1@4");
    assertThat(r0.runtime.world()).contains(new AgreedWorld(2, 1, new int[] {0, 1}, new int[] {2}));
    assertThat(store.values.keySet()).as("the last rank to read a world's keys drops them")
        .filteredOn(k -> k.startsWith("EPOCH_SWITCH/1.0/") || k.startsWith("EPOCH_SWITCH/2.0/")).isEmpty();
  }

  @Test
  void newProcessesFoundTheirEpochOnlyOnceTheRecordedWorldIsStale() throws Exception {
    MapKeyValueStore store = new MapKeyValueStore();
    new EpochSwitchStore(store, Duration.ofSeconds(1)).publishCurrent(new AgreedWorld(3, 0, new int[] {0, 1}));
    long[] clock = {0};
    Rank r0 = new Rank(0, store, 2, clock);
    Rank r1 = new Rank(1, store, 2, clock);
    WorldView restarted = new WorldView(9, new int[] {0, 1}, Directive.RUN);
    r0.deliver(restarted);
    r1.deliver(restarted);
    assertThat(r0.step()).as("world 3.0 may still be switching to epoch 9").isEqualTo(State.IDLE);
    assertThat(r1.step()).isEqualTo(State.IDLE);
    clock[0] = Duration.ofSeconds(31).toNanos();
    assertThat(r1.step()).as("world 3.0 did not move for 31 s: rank 1 founds epoch 9").isEqualTo(State.RUNNING);
    assertThat(r0.step()).isEqualTo(State.RUNNING);
    assertThat(r0.runtime.world()).contains(new AgreedWorld(9, 0, new int[] {0, 1}));
    assertThat(r0.backend.calls).containsExactly("connect 9 [1] [0, 1]");
  }

  @Test
  void aSameEpochPlacementIsInstalledByAllRanksAtOneStepAlsoByOneThatNeverReceivedIt() throws Exception {
    MapKeyValueStore store = new MapKeyValueStore();
    Rank r0 = new Rank(0, store, 2);
    Rank r1 = new Rank(1, store, 2);
    ObservedPlacement first = placement(4, 1);
    WorldView view = new WorldView(1, new int[] {0, 1}, Directive.RUN);
    for (Rank r : List.of(r0, r1)) {
      r.deliver(first);
      r.deliver(view);
    }
    stepAll(r0, r1);
    assertThat(r0.runtime.world().orElseThrow().placementVersion()).as("founded with the placement it had").isEqualTo(4);
    assertThat(r1.installed).as("the joiner installs the founder's bytes").isEqualTo(first.encoded());
    stepAll(r0, r1);

    r0.deliver(placement(5, 1)); // the re-plan; rank 1's placement fetch failed, it never receives version 5
    stepAll(r0, r1); // checkpoint 2: rank 0 announces world 1.1 with version 5 for step 4
    assertThat(r1.installed).isEqualTo(first.encoded());
    stepAll(r0, r1);
    stepAll(r0, r1); // checkpoint 4: both switch before step 5
    assertThat(r0.switches).extracting(x -> x.to().id() + "@" + x.atStep() + " v" + x.to().placementVersion())
        .containsExactly("1.0@0 v4", "1.1@4 v5");
    assertThat(r1.switches).extracting(x -> x.to().id() + "@" + x.atStep() + " v" + x.to().placementVersion())
        .containsExactly("1.0@0 v4", "1.1@4 v5");
    assertThat(r1.installed).as("read from the store").isEqualTo(placement(5, 1).encoded());
    assertThat(r0.backend.calls).as("no connection changes").containsExactly("connect 1 [1] [0, 1]", "disconnect []");
    assertThat(store.values.keySet()).as("the replaced placement is dropped with its world")
        .contains("EPOCH_SWITCH/placement/5").doesNotContain("EPOCH_SWITCH/placement/4");
  }

  /** The placement the test's operator publishes as {@code version} for {@code epoch}. */
  private static ObservedPlacement placement(long version, long epoch) {
    return new ObservedPlacement(version, epoch, ("placement " + version + " of epoch " + epoch).getBytes());
  }

  private static void stepAll(Rank... ranks) throws Exception {
    for (Rank r : ranks) {
      assertThat(r.step()).as("rank %d", r.rank).isEqualTo(State.RUNNING);
    }
  }

  /**
   * Generated runs: ranks step at random speeds under the one constraint the data path imposes (a rank
   * finishes step n of a world only after every live member started it), Watch streams deliver views
   * late, and the membership grows, drains and loses ranks at random moments, several changes overlapping,
   * while the operator publishes a placement with every epoch and re-plans within epochs (placements
   * arrive before or after their epoch's view). Every switch out of a world happens at one step on all
   * its ranks for one successor (so one placement version), placement versions never go back, every rank
   * steps with the placement bytes of its world's version, every connect of an epoch names the same
   * world, and in the end every live rank steps in the last epoch's world with the newest placement.
   */
  @Property(tries = 300)
  void everyRankOfAWorldSwitchesAtTheSameStep(@ForAll long seed, @ForAll @IntRange(min = 1, max = 5) int interval)
      throws Exception {
    Random random = new Random(seed);
    MapKeyValueStore store = new MapKeyValueStore();
    Map<Integer, Rank> live = new TreeMap<>();
    List<Rank> all = new ArrayList<>();
    long epoch = 1;
    Set<Integer> members = new TreeSet<>();
    int initial = 1 + random.nextInt(4);
    List<ObservedPlacement> published = new ArrayList<>();
    for (int r = 0; r < initial; r++) {
      members.add(r);
      Rank rank = new Rank(r, store, interval);
      live.put(r, rank);
      all.add(rank);
    }
    commit(live, epoch, members, Set.of(), published, random);
    // A process fetches the current placement before it steps (RunCommand), so its first world has one.
    live.values().forEach(r -> r.deliver(published.getFirst()));
    int changes = 0;
    Set<Integer> draining = new TreeSet<>();
    Set<Integer> killed = new TreeSet<>();
    for (int tick = 0; tick < 200_000; tick++) {
      if (changes < 6 && draining.size() < 2 && random.nextInt(60) == 0) {
        int kind = random.nextInt(4);
        List<Integer> running = live.values().stream().filter(r -> r.runtime.state() == State.RUNNING && members.contains(r.rank))
            .map(r -> r.rank).filter(r -> !draining.contains(r)).toList();
        if (kind == 0 && live.size() < MAX_RANKS) {
          // Scale-up: a new process joins first, then the membership commits an epoch with it.
          int fresh = freeRank(random, live, all);
          if (fresh >= 0) {
            Rank rank = new Rank(fresh, store, interval);
            rank.deliver(published.getLast()); // a new process fetches the current placement first
            killed.remove(fresh);
            live.put(fresh, rank);
            all.add(rank);
            members.add(fresh);
            commit(live, ++epoch, members, draining, published, random);
            changes++;
          }
        } else if (kind == 1 && running.size() > 1) {
          // Scale-down: the rank is told to drain in the current epoch and stays a member (told DRAIN in
          // every epoch) until its Leave commits an epoch without it.
          int drainer = running.get(random.nextInt(running.size()));
          draining.add(drainer);
          live.get(drainer).inbox.add(new WorldView(epoch, toArray(members), Directive.DRAIN));
          changes++;
        } else if (kind == 2 && running.size() > 1) {
          int victim = running.get(random.nextInt(running.size()));
          Rank dead = live.remove(victim);
          dead.dead = true;
          killed.add(victim);
          members.remove(victim);
          commit(live, ++epoch, members, draining, published, random);
          changes++;
        } else if (kind == 3) {
          // A load-driven re-plan: a new version in the same epoch.
          publish(live, members, published, epoch);
          changes++;
        }
      }
      List<Rank> ranks = new ArrayList<>(live.values());
      Rank rank = ranks.get(random.nextInt(ranks.size()));
      if (!rank.inbox.isEmpty() && random.nextInt(4) == 0) {
        rank.deliver(rank.inbox.poll());
        continue;
      }
      if (!mayStep(rank, all)) {
        continue;
      }
      int switchesBefore = rank.switches.size();
      State state = rank.step();
      if (rank.switches.size() > switchesBefore && state == State.RUNNING) {
        // A rank that drained and left is gone: no world may wait for it (a killed one is masked instead).
        AgreedWorld entered = rank.runtime.world().orElseThrow();
        assertThat(Arrays.stream(entered.ranks()).filter(r -> !live.containsKey(r) && !killed.contains(r)).toArray())
            .as("ranks of %s entered by rank %d that are gone; live %s killed %s; its switches %s", entered, rank.rank,
                live.keySet(), killed, rank.switches.stream().map(x -> x.to() + "@" + x.atStep()).toList()).isEmpty();
      }
      if (state == State.DRAINED) {
        live.remove(rank.rank);
        members.remove(rank.rank);
        draining.remove(rank.rank);
        commit(live, ++epoch, members, draining, published, random);
      }
      if (state == State.RUNNING) {
        AgreedWorld world = rank.runtime.world().orElseThrow();
        assertThat(rank.installed).as("rank %d steps in %s with its placement", rank.rank, world)
            .isEqualTo(published.stream().filter(p -> p.version() == world.placementVersion()).findFirst().orElseThrow().encoded());
      }
      if (changes == 6 && draining.isEmpty() && settled(live, epoch, members, published.getLast().version(), interval)) {
        break;
      }
    }
    assertThat(settled(live, epoch, members, published.getLast().version(), interval))
        .as("every live rank runs the last epoch %d %s with placement %d: %s", epoch, members, published.getLast().version(),
            all.stream().map(r -> r.rank + "@" + r.world() + "/" + r.runtime.steps() + " " + r.runtime.state() + " "
                + r.switches.stream().map(s -> (s.from() == null ? "-" : s.from().id()) + ">" + s.to() + "@" + s.atStep()).toList()).toList())
        .isTrue();

    Map<String, Set<String>> successorsOf = new HashMap<>();
    Map<String, Set<Long>> switchStepsOutOf = new HashMap<>();
    Map<Long, Set<String>> worldsConnectedPerEpoch = new HashMap<>();
    for (Rank r : all) {
      for (Switch s : r.switches) {
        if (s.from() != null) {
          switchStepsOutOf.computeIfAbsent(s.from().id(), k -> new TreeSet<>()).add(s.atStep());
          successorsOf.computeIfAbsent(s.from().id(), k -> new TreeSet<>()).add(s.to().toString());
          assertThat(s.to().placementVersion()).as("%s after %s", s.to(), s.from()).isGreaterThanOrEqualTo(s.from().placementVersion());
        }
      }
      for (String call : r.backend.calls) {
        if (call.startsWith("connect ")) {
          String[] parts = call.split(" ", 3);
          worldsConnectedPerEpoch.computeIfAbsent(Long.parseLong(parts[1]), k -> new TreeSet<>())
              .add(parts[2].substring(parts[2].lastIndexOf('[')));
        }
      }
    }
    assertThat(switchStepsOutOf).allSatisfy((world, steps) -> assertThat(steps).as("switch steps out of %s", world).hasSize(1));
    assertThat(successorsOf).allSatisfy((world, next) -> assertThat(next).as("successors of %s", world).hasSize(1));
    assertThat(worldsConnectedPerEpoch).allSatisfy((e, worlds) -> assertThat(worlds).as("worlds connected at epoch %d", e).hasSize(1));
  }

  /** What the data path allows: a member finishes step n of its world only after every live member started it. */
  private static boolean mayStep(Rank rank, List<Rank> all) {
    if (rank.runtime.state() != State.RUNNING) {
      return true;
    }
    AgreedWorld world = rank.runtime.world().orElseThrow();
    long boundary = rank.runtime.steps();
    for (Rank peer : all) {
      boolean member = peer != rank && world.contains(peer.rank) && !peer.dead
          && (peer.runtime.world().isPresent() || peer.runtime.state() == State.IDLE || peer.started.containsKey(world.id()));
      if (member && peer.started.getOrDefault(world.id(), 0L) < boundary && isCurrentProcess(peer, all)) {
        return false;
      }
    }
    return true;
  }

  /** The latest process of a rank; an earlier one that drained is gone. */
  private static boolean isCurrentProcess(Rank peer, List<Rank> all) {
    Rank latest = null;
    for (Rank r : all) {
      if (r.rank == peer.rank) {
        latest = r;
      }
    }
    return latest == peer && peer.runtime.state() != State.DRAINED && peer.runtime.state() != State.EXITED;
  }

  private static boolean settled(Map<Integer, Rank> live, long epoch, Set<Integer> members, long placementVersion,
      int interval) {
    for (Rank r : live.values()) {
      if (r.runtime.world().filter(w -> w.epoch() == epoch && Arrays.equals(w.ranks(), toArray(members))
          && w.placementVersion() == placementVersion).isEmpty()
          || r.runtime.steps() < 2L * interval) {
        return false;
      }
    }
    return true;
  }

  private static int freeRank(Random random, Map<Integer, Rank> live, List<Rank> all) {
    // A rank of a process that drained or died may come back, once no running world holds it any more
    // and none remembers it as drained (the documented limit: a world that drained a rank cannot tell
    // an epoch listing a new process of it from one still listing the drainer unless the newcomer is
    // marked joining before the world sees that epoch).
    Set<Integer> held = live.values().stream().flatMap(r -> r.runtime.world().stream())
        .flatMap(w -> java.util.stream.IntStream.concat(Arrays.stream(w.ranks()), Arrays.stream(w.drained())).boxed())
        .collect(Collectors.toSet());
    List<Integer> free = new ArrayList<>();
    for (int r = 0; r < MAX_RANKS; r++) {
      if (!live.containsKey(r) && !held.contains(r)) {
        free.add(r);
      }
    }
    return free.isEmpty() ? -1 : free.get(random.nextInt(free.size()));
  }

  /**
   * The operator commits {@code epoch} with a new placement planned for it; each member receives the view
   * and the placement, either first (separate streams).
   */
  private static void commit(Map<Integer, Rank> live, long epoch, Set<Integer> members, Set<Integer> draining,
      List<ObservedPlacement> published, Random random) {
    boolean placementFirst = random.nextBoolean();
    if (placementFirst) {
      publish(live, members, published, epoch);
    }
    for (Rank r : live.values()) {
      if (members.contains(r.rank)) {
        r.inbox.add(new WorldView(epoch, toArray(members), draining.contains(r.rank) ? Directive.DRAIN : Directive.RUN));
      }
    }
    if (!placementFirst) {
      publish(live, members, published, epoch);
    }
  }

  private static void publish(Map<Integer, Rank> live, Set<Integer> members, List<ObservedPlacement> published, long epoch) {
    ObservedPlacement next = placement(published.size() + 1, epoch);
    published.add(next);
    live.values().stream().filter(r -> members.contains(r.rank)).forEach(r -> r.inbox.add(next));
  }

  private static int[] toArray(Set<Integer> ranks) {
    return ranks.stream().mapToInt(Integer::intValue).toArray();
  }
}
