package io.elasticmoe.worker.runtime;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * A world the running ranks agreed to step in: the epoch it came from, a generation that counts the
 * switches within that epoch (a drain removes ranks without a new epoch), its sorted ranks, and the
 * ranks that drained out of it while the membership may still list them (a draining rank stays a member
 * until its Leave commits; a newer epoch committed before that must not bring it back), and the placement
 * version all its ranks route by (0: the placement the ranks computed themselves, as in a static run). A
 * new placement version in the same epoch is a new generation too, so the ranks change placement at one
 * step. Its id names the store keys of the switches out of it, so no two worlds share keys, also across
 * restarts (epochs strictly increase).
 */
public record AgreedWorld(long epoch, int generation, int[] ranks, int[] drained, long placementVersion) {

  private static final String PLACEMENT_FIELD = "placement=";

  public AgreedWorld(long epoch, int generation, int[] ranks) {
    this(epoch, generation, ranks, new int[0], 0);
  }

  public AgreedWorld(long epoch, int generation, int[] ranks, int[] drained) {
    this(epoch, generation, ranks, drained, 0);
  }

  public AgreedWorld {
    ranks = Arrays.stream(ranks).sorted().distinct().toArray();
    drained = Arrays.stream(drained).sorted().distinct().toArray();
    if (epoch < 0 || generation < 0 || placementVersion < 0) {
      throw new IllegalArgumentException("epoch " + epoch + ", generation " + generation + " and placement version "
          + placementVersion + " must be at least 0");
    }
  }

  /** The same ranks at the next generation, routing by {@code version}. */
  public AgreedWorld withPlacement(long version) {
    return new AgreedWorld(epoch, generation + 1, ranks, drained, version);
  }

  public String id() {
    return epoch + "." + generation;
  }

  public boolean contains(int rank) {
    return Arrays.binarySearch(ranks, rank) >= 0;
  }

  /**
   * {@code "epoch generation r,r,r"} plus {@code " d,d"} when ranks drained and {@code " placement=v"} when
   * the version is not 0: readable in a store dump.
   */
  public byte[] encode() {
    String text = epoch + " " + generation + " " + join(ranks) + (drained.length == 0 ? "" : " " + join(drained))
        + (placementVersion == 0 ? "" : " " + PLACEMENT_FIELD + placementVersion);
    return text.getBytes(StandardCharsets.UTF_8);
  }

  private static String join(int[] ranks) {
    return Arrays.stream(ranks).mapToObj(Integer::toString).collect(Collectors.joining(","));
  }

  private static int[] split(String field) {
    return field.isEmpty() ? new int[0] : Arrays.stream(field.split(",")).mapToInt(Integer::parseInt).toArray();
  }

  public static AgreedWorld decode(byte[] bytes) {
    String text = new String(bytes, StandardCharsets.UTF_8);
    String[] fields = text.split(" ", -1);
    try {
      long placementVersion = 0;
      int length = fields.length;
      if (length > 3 && fields[length - 1].startsWith(PLACEMENT_FIELD)) {
        placementVersion = Long.parseLong(fields[length - 1].substring(PLACEMENT_FIELD.length()));
        length--;
      }
      if (length != 3 && length != 4) {
        throw new NumberFormatException("expected 3 or 4 fields before the placement version");
      }
      return new AgreedWorld(Long.parseLong(fields[0]), Integer.parseInt(fields[1]), split(fields[2]),
          length == 4 ? split(fields[3]) : new int[0], placementVersion);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not an agreed world: '" + text + "' (" + e.getMessage() + ")", e);
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof AgreedWorld w && w.epoch == epoch && w.generation == generation && Arrays.equals(w.ranks, ranks)
        && Arrays.equals(w.drained, drained) && w.placementVersion == placementVersion;
  }

  @Override
  public int hashCode() {
    return ((Long.hashCode(epoch) * 31 + generation) * 31 * 31 + Arrays.hashCode(ranks) * 31 + Arrays.hashCode(drained)) * 31
        + Long.hashCode(placementVersion);
  }

  @Override
  public String toString() {
    return "world " + id() + " " + Arrays.toString(ranks) + (drained.length == 0 ? "" : " drained " + Arrays.toString(drained))
        + (placementVersion == 0 ? "" : " placement " + placementVersion);
  }
}
