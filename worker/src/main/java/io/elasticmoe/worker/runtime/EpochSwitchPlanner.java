package io.elasticmoe.worker.runtime;

import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.LongFunction;

/**
 * Decides when the ranks of a running world switch to the next one, so that all of them switch at the
 * same step. Pure: (step, what the store holds, what this rank knows) → decision.
 *
 * <p>Every rank counts the steps it ran in the current {@link AgreedWorld}; they are equal on all ranks,
 * because every step is a dispatch and a combine over all of them. Every {@code interval} steps (a
 * checkpoint) a rank reads one store counter. A rank that knows a newer world (a newer epoch from the
 * Watch stream, or its own DRAIN/EXIT/REJOIN) and finds the counter empty writes its proposed successor
 * and adds {@link #announcement} for the next checkpoint. Every rank reads that counter at the next
 * checkpoint and switches there.
 *
 * <p>Why everyone sees the same thing: a write at checkpoint c happens before the writer's step c
 * dispatch, and a reader reaches checkpoint c + interval only after its dispatches of steps c..c+interval-1
 * received the writer's signals (or masked the writer as dead). So every write for a checkpoint precedes
 * every read at it, all readers see the same counter and the same (last written) successor, and nobody
 * writes at a checkpoint where a switch is due. The per-step cost is one store read every
 * {@code interval} steps.
 *
 * <p>A new placement version in the same epoch switches the same way (a new generation with the same
 * ranks), so every rank routes by it from the same step; routing by different placements for one step
 * would send tokens to slots that now hold other experts.
 */
public final class EpochSwitchPlanner {

  /** Low bits of the counter count announcers; the high bits sum their (equal) target residues. */
  static final int ANNOUNCER_BITS = 16;

  /**
   * Targets are kept modulo this: a reader at checkpoint c only tells c (switch now) from c + interval
   * (announced concurrently), so a residue is enough, and n ≤ 2^16 announcers never overflow the sum.
   */
  static final long TARGET_MODULUS = 1L << 20;

  public enum Checkpoint {
    /** Nothing known, nothing announced: step on. */
    CONTINUE,
    /** This rank knows a newer world and nobody announced one: announce it for the next checkpoint. */
    ANNOUNCE,
    /** A switch is announced for the next checkpoint (by a rank at this one): step on. */
    PENDING,
    /** A switch is announced for this checkpoint: read the successor and switch before this step. */
    SWITCH
  }

  private EpochSwitchPlanner() {}

  public static boolean isCheckpoint(long step, int interval) {
    return step > 0 && step % interval == 0;
  }

  /** What one announcer adds to the counter for a switch at {@code targetStep}. */
  public static long announcement(long targetStep) {
    if (targetStep <= 0) {
      throw new IllegalArgumentException("target step " + targetStep + " must be positive");
    }
    return ((targetStep % TARGET_MODULUS) << ANNOUNCER_BITS) | 1;
  }

  /**
   * The announced switch step modulo {@link #TARGET_MODULUS}: the counter is n announcements of the same
   * step (all announcers write at the same checkpoint), so it is the high part divided by the count in
   * the low part.
   */
  public static OptionalLong targetResidue(long counter) {
    if (counter == 0) {
      return OptionalLong.empty();
    }
    long announcers = counter & ((1L << ANNOUNCER_BITS) - 1);
    long sum = counter >>> ANNOUNCER_BITS;
    if (announcers == 0 || sum % announcers != 0 || sum / announcers >= TARGET_MODULUS) {
      throw new IllegalStateException("switch counter " + counter + " is not a sum of equal announcements");
    }
    return OptionalLong.of(sum / announcers);
  }

  public static Checkpoint decide(long step, int interval, long counter, boolean proposing) {
    if (!isCheckpoint(step, interval) || interval >= TARGET_MODULUS / 2) {
      throw new IllegalArgumentException("step " + step + " is not a checkpoint of interval " + interval);
    }
    OptionalLong target = targetResidue(counter);
    if (target.isEmpty()) {
      return proposing ? Checkpoint.ANNOUNCE : Checkpoint.CONTINUE;
    }
    if (target.getAsLong() == step % TARGET_MODULUS) {
      return Checkpoint.SWITCH;
    }
    if (target.getAsLong() == (step + interval) % TARGET_MODULUS) {
      return Checkpoint.PENDING;
    }
    throw new IllegalStateException("a switch was agreed for step " + target.getAsLong() + " (mod " + TARGET_MODULUS
        + ") but this rank is at checkpoint " + step + ": it missed a switch");
  }

  /**
   * The successor this rank would propose to {@code current}, if any. A rank told to leave (DRAIN, EXIT,
   * REJOIN, or left out of a newer epoch) proposes the world without itself: for DRAIN the membership
   * keeps it a member until it left, so it must take itself out, at the same epoch (next generation)
   * when nothing else changed, and the world remembers it as drained. Any other rank proposes a newer
   * epoch's ranks. Either way, ranks the world drained stay out while the epoch still lists them, except
   * those in {@code rejoining}: a new process of the rank waits to join, so the listing is about it.
   *
   * <p>{@code placementFor} gives the newest placement version this rank received per epoch. A successor
   * routes by the newest one planned for its epoch, never by an older version than {@code current}'s
   * (none received yet: it keeps {@code current}'s, and a later checkpoint installs the epoch's own). With
   * no change of ranks, a newer version for the current epoch is itself a successor: the same ranks at
   * the next generation, so that no connection changes and every rank routes by it from the same step.
   */
  public static Optional<AgreedWorld> proposal(int self, AgreedWorld current, Optional<WorldView> newest,
      Set<Integer> rejoining, LongFunction<OptionalLong> placementFor) {
    Optional<AgreedWorld> membership = membershipProposal(self, current, newest, rejoining);
    if (membership.isPresent()) {
      AgreedWorld next = membership.get();
      long version = Math.max(current.placementVersion(), placementFor.apply(next.epoch()).orElse(0));
      return Optional.of(new AgreedWorld(next.epoch(), next.generation(), next.ranks(), next.drained(), version));
    }
    OptionalLong revised = placementFor.apply(current.epoch());
    if (revised.isPresent() && revised.getAsLong() > current.placementVersion()) {
      return Optional.of(current.withPlacement(revised.getAsLong()));
    }
    return Optional.empty();
  }

  private static Optional<AgreedWorld> membershipProposal(int self, AgreedWorld current, Optional<WorldView> newest,
      Set<Integer> rejoining) {
    if (newest.isEmpty()) {
      return Optional.empty();
    }
    WorldView view = newest.get();
    boolean newerEpoch = view.epoch() > current.epoch();
    boolean leaving = view.directive() != WorldView.Directive.RUN
        || Arrays.stream(view.activeRanks()).noneMatch(r -> r == self);
    if (leaving && current.contains(self)) {
      if (!newerEpoch) {
        return Optional.of(new AgreedWorld(current.epoch(), current.generation() + 1,
            without(current.ranks(), new int[] {self}), append(current.drained(), self)));
      }
      return Optional.of(nextEpoch(view, current, self, rejoining));
    }
    if (newerEpoch && !leaving) {
      return Optional.of(nextEpoch(view, current, -1, rejoining));
    }
    return Optional.empty();
  }

  /** {@code view}'s epoch without {@code leaving} and without ranks drained while it still lists them. */
  private static AgreedWorld nextEpoch(WorldView view, AgreedWorld current, int leaving, Set<Integer> rejoining) {
    int[] stillListed = drainedStillListed(current, view).stream()
        .filter(d -> !rejoining.contains(d)).mapToInt(Integer::intValue).toArray();
    int[] ranks = without(without(view.activeRanks(), stillListed), new int[] {leaving});
    // A drainer leaving at a newer epoch that lists it (it is still DRAINING there) is drained too.
    boolean leaverListed = Arrays.stream(view.activeRanks()).anyMatch(r -> r == leaving);
    return new AgreedWorld(view.epoch(), 0, ranks, leaverListed ? append(stillListed, leaving) : stillListed);
  }

  /** Ranks {@code current} drained that {@code view} still lists: the ones to ask whether they came back. */
  public static Set<Integer> drainedStillListed(AgreedWorld current, WorldView view) {
    Set<Integer> listed = new TreeSet<>();
    for (int d : current.drained()) {
      if (Arrays.stream(view.activeRanks()).anyMatch(r -> r == d)) {
        listed.add(d);
      }
    }
    return listed;
  }

  private static int[] without(int[] ranks, int[] removed) {
    return Arrays.stream(ranks).filter(r -> Arrays.stream(removed).noneMatch(x -> x == r)).toArray();
  }

  private static int[] append(int[] ranks, int rank) {
    int[] out = Arrays.copyOf(ranks, ranks.length + 1);
    out[ranks.length] = rank;
    return out;
  }

  /**
   * The data-plane steps of a rank that stays, from {@code from} to {@code to}. A newer epoch goes through
   * {@link WorldChangePlanner} (its connect barrier includes ranks that join); a new generation of the
   * same epoch only removes ranks (or none, for a new placement), so it disconnects them and connects
   * nothing. Placement versions never go back.
   */
  public static WorldChange change(int self, Set<Integer> connected, int[] mask, AgreedWorld from, AgreedWorld to) {
    if (to.placementVersion() < from.placementVersion()) {
      throw new IllegalArgumentException("cannot switch from " + from + " to an older placement in " + to);
    }
    if (to.epoch() > from.epoch()) {
      return WorldChangePlanner.plan(self, connected, mask, new WorldView(to.epoch(), to.ranks(), WorldView.Directive.RUN));
    }
    if (to.epoch() < from.epoch() || to.generation() <= from.generation()) {
      throw new IllegalArgumentException("cannot switch from " + from + " back to " + to);
    }
    Set<Integer> gone = new TreeSet<>(connected);
    Arrays.stream(to.ranks()).forEach(gone::remove);
    gone.remove(self);
    return new WorldChange(to.epoch(), gone.stream().mapToInt(Integer::intValue).toArray(), new int[0], to.ranks());
  }

  /**
   * Whether a rank without a world may name one, from its newest view (RUN, with itself in it): when no
   * world ever ran in this store, or when the running one stayed at an older epoch for
   * {@code staleAfter} (a running world switches within two intervals of learning of an epoch; one that
   * does not is gone, e.g. every rank process was replaced). The named world is {@code (epoch, 0, ranks)},
   * the one a running world would switch to, so a slow one that switches after all meets the same world.
   */
  public static boolean mayFound(int self, WorldView newest, Optional<AgreedWorld> current, Duration unchanged,
      Duration staleAfter) {
    boolean assigned = newest.directive() == WorldView.Directive.RUN
        && Arrays.stream(newest.activeRanks()).anyMatch(r -> r == self);
    return assigned && (current.isEmpty()
        || current.get().epoch() < newest.epoch() && unchanged.compareTo(staleAfter) >= 0);
  }

  /**
   * Whether a rank without a world may join {@code agreed}: it is in it, it is newer than the world this
   * process last left, and this process was assigned RUN in its epoch with every rank of it (a world only
   * drops ranks within an epoch), so the world waits for this process, not for an earlier one of the same
   * rank or a world some earlier run left in the store.
   */
  public static boolean joinable(int self, AgreedWorld agreed, long lastLeftEpoch, Optional<WorldView> assignedAtEpoch) {
    return agreed.contains(self)
        && agreed.epoch() > lastLeftEpoch
        && assignedAtEpoch.filter(v -> v.directive() == WorldView.Directive.RUN)
            .filter(v -> Arrays.stream(v.activeRanks()).anyMatch(r -> r == self))
            .filter(v -> Arrays.stream(agreed.ranks()).allMatch(r -> Arrays.stream(v.activeRanks()).anyMatch(a -> a == r)))
            .isPresent();
  }
}
