package io.elasticmoe.worker.runtime;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * A world the running ranks agreed to step in: the epoch it came from, a generation that counts the
 * switches within that epoch (a drain removes ranks without a new epoch), its sorted ranks, and the
 * ranks that drained out of it while the membership may still list them (a draining rank stays a member
 * until its Leave commits; a newer epoch committed before that must not bring it back). Its id names the
 * store keys of the switches out of it, so no two worlds share keys, also across restarts (epochs
 * strictly increase).
 */
public record AgreedWorld(long epoch, int generation, int[] ranks, int[] drained) {

  public AgreedWorld(long epoch, int generation, int[] ranks) {
    this(epoch, generation, ranks, new int[0]);
  }

  public AgreedWorld {
    ranks = Arrays.stream(ranks).sorted().distinct().toArray();
    drained = Arrays.stream(drained).sorted().distinct().toArray();
    if (epoch < 0 || generation < 0) {
      throw new IllegalArgumentException("epoch " + epoch + " and generation " + generation + " must be at least 0");
    }
  }

  public String id() {
    return epoch + "." + generation;
  }

  public boolean contains(int rank) {
    return Arrays.binarySearch(ranks, rank) >= 0;
  }

  /** {@code "epoch generation r,r,r"} plus {@code " d,d"} when ranks drained: readable in a store dump. */
  public byte[] encode() {
    String text = epoch + " " + generation + " " + join(ranks) + (drained.length == 0 ? "" : " " + join(drained));
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
      if (fields.length != 3 && fields.length != 4) {
        throw new NumberFormatException("expected 3 or 4 fields");
      }
      return new AgreedWorld(Long.parseLong(fields[0]), Integer.parseInt(fields[1]), split(fields[2]),
          fields.length == 4 ? split(fields[3]) : new int[0]);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not an agreed world: '" + text + "' (" + e.getMessage() + ")", e);
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof AgreedWorld w && w.epoch == epoch && w.generation == generation && Arrays.equals(w.ranks, ranks)
        && Arrays.equals(w.drained, drained);
  }

  @Override
  public int hashCode() {
    return (Long.hashCode(epoch) * 31 + generation) * 31 * 31 + Arrays.hashCode(ranks) * 31 + Arrays.hashCode(drained);
  }

  @Override
  public String toString() {
    return "world " + id() + " " + Arrays.toString(ranks) + (drained.length == 0 ? "" : " drained " + Arrays.toString(drained));
  }
}
