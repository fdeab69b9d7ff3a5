package io.elasticmoe.worker.cpu;

import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.store.DirectoryKeyValueStore;
import io.elasticmoe.worker.runtime.DispatchResult;
import io.elasticmoe.worker.runtime.PeerTimeoutException;
import io.elasticmoe.worker.transport.UcxTransport;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;

/**
 * One rank process of {@link ElasticPlanTest}: follows an elastic plan (NIXL-EP {@code tests/elastic}
 * style) from its first phase until it leaves, runs every {@link EpCase} per phase, checks every output,
 * and prints {@code PHASE p MASKED [...]}. A rank marked killed prints {@code KILL-ME} at its first
 * dispatch (or combine) of that phase and waits for the parent's {@code destroyForcibly()}.
 *
 * <p>Arguments: storeDir rank firstPhase killAt(dispatch|combine) plan ("0,1;0,1,-2,3").
 */
public final class PlanRank {

  static final int MAX_RANKS = 8;
  static final int LOCAL_EXPERTS = 2;
  static final int MAX_TOKENS = 16;
  static final int NUM_TOKENS = 12;
  static final int HIDDEN = 512;
  static final int TOPK = 4;
  // Long enough that a live rank on an oversubscribed CI machine is never taken for a dead one.
  static final Duration TIMEOUT = Duration.ofSeconds(10);

  public static void main(String[] args) throws Exception {
    Path storeDir = Path.of(args[0]);
    int rank = Integer.parseInt(args[1]);
    int firstPhase = Integer.parseInt(args[2]);
    boolean killAtCombine = args[3].equals("combine");
    int[][] plan = ElasticPlanTest.parse(args[4]);
    DispatchLayout layout = DispatchLayout.of(MAX_RANKS, LOCAL_EXPERTS, MAX_TOKENS, HIDDEN);
    Set<Integer> connected = new TreeSet<>();
    Set<Integer> killedBefore = new TreeSet<>();
    try (DirectoryKeyValueStore store = new DirectoryKeyValueStore(storeDir);
        CpuDispatchBackend backend = new CpuDispatchBackend(
            layout, rank, store, TIMEOUT, Duration.ofSeconds(180), UcxTransport.HOST_TRANSPORTS)) {
      for (int phase = firstPhase; phase < plan.length; phase++) {
        int[] world = Arrays.stream(plan[phase]).map(Math::abs).sorted().toArray();
        Set<Integer> worldSet = Arrays.stream(world).boxed().collect(Collectors.toCollection(TreeSet::new));
        Set<Integer> killed = Arrays.stream(plan[phase]).filter(r -> r < 0).map(r -> -r).boxed()
            .collect(Collectors.toCollection(TreeSet::new));
        if (!worldSet.contains(rank)) {
          System.out.println("LEFT " + phase);
          return;
        }
        Set<Integer> stale = new TreeSet<>(connected);
        stale.removeIf(r -> worldSet.contains(r) && !killedBefore.contains(r));
        backend.disconnect(stale.stream().mapToInt(Integer::intValue).toArray());
        connected.removeAll(stale);
        killedBefore.removeAll(stale);
        int[] newPeers = Arrays.stream(world).filter(r -> r != rank && !connected.contains(r)).toArray();
        backend.connect(phase, newPeers, world, true);
        Arrays.stream(newPeers).forEach(connected::add);
        runPhase(backend, phase, world, killed.contains(rank), killAtCombine);

        Set<Integer> masked = new TreeSet<>();
        int[] mask = backend.queryMask();
        for (int r = 0; r < MAX_RANKS; r++) {
          if (mask[r] != 0) {
            masked.add(r);
          }
        }
        Set<Integer> reported = backend.takePeerTimeouts().stream().map(PeerTimeoutException::rank)
            .collect(Collectors.toCollection(TreeSet::new));
        System.out.println("PHASE " + phase + " MASKED " + masked + " REPORTED " + reported);
        EpCase.require(masked.equals(killed), "rank %d phase %d: masked %s, plan killed %s", rank, phase, masked, killed);
        EpCase.require(reported.equals(killed), "rank %d phase %d: reported %s, plan killed %s", rank, phase, reported, killed);
        killedBefore.addAll(killed);
      }
    }
    System.out.println("DONE");
  }

  private static void runPhase(CpuDispatchBackend backend, int phase, int[] world, boolean killMe, boolean killAtCombine) {
    int rank = backend.rank();
    for (EpCase c : EpCase.all(17 + phase, NUM_TOKENS, HIDDEN, TOPK, MAX_RANKS * LOCAL_EXPERTS)) {
      if (killMe && !killAtCombine) {
        requestKill();
        c.dispatch(backend);
        parkUntilKilled();
      }
      DispatchResult result = c.dispatch(backend);
      short[] y = c.checkDispatch(rank, world, backend.queryMask(), result, LOCAL_EXPERTS, MAX_TOKENS);
      if (killMe) {
        requestKill();
        backend.combine(y, c.topkIdx(rank), c.topkWeights(rank), result.handle());
        parkUntilKilled();
      }
      short[] out = backend.combine(y, c.topkIdx(rank), c.topkWeights(rank), result.handle());
      c.checkCombine(rank, world, backend.queryMask(), out, LOCAL_EXPERTS);
    }
  }

  /** Asks the parent to kill this process; the call that follows runs until the kill lands mid-way. */
  private static void requestKill() {
    System.out.println("KILL-ME");
    System.out.flush();
  }

  private static void parkUntilKilled() {
    // Silent from here on, as a dead rank would be, until destroyForcibly lands.
    while (true) {
      LockSupport.parkNanos(1_000_000_000L);
    }
  }
}
