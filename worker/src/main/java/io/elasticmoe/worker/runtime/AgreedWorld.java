package io.elasticmoe.worker.runtime;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * A world the running ranks agreed to step in: the epoch it came from, a generation that counts the
 * switches within that epoch (a drain removes ranks without a new epoch), and its sorted ranks. Its id
 * names the store keys of the switches out of it, so no two worlds share keys, also across restarts
 * (epochs strictly increase).
 */
public record AgreedWorld(long epoch, int generation, int[] ranks) {

  public AgreedWorld {
    ranks = Arrays.stream(ranks).sorted().distinct().toArray();
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

  /** {@code "epoch generation r,r,r"}: small, readable in a store dump. */
  public byte[] encode() {
    String text = epoch + " " + generation + " "
        + Arrays.stream(ranks).mapToObj(Integer::toString).collect(Collectors.joining(","));
    return text.getBytes(StandardCharsets.UTF_8);
  }

  public static AgreedWorld decode(byte[] bytes) {
    String text = new String(bytes, StandardCharsets.UTF_8);
    String[] fields = text.split(" ", -1);
    try {
      if (fields.length != 3) {
        throw new NumberFormatException("expected 3 fields");
      }
      int[] ranks = fields[2].isEmpty() ? new int[0]
          : Arrays.stream(fields[2].split(",")).mapToInt(Integer::parseInt).toArray();
      return new AgreedWorld(Long.parseLong(fields[0]), Integer.parseInt(fields[1]), ranks);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not an agreed world: '" + text + "' (" + e.getMessage() + ")", e);
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof AgreedWorld w && w.epoch == epoch && w.generation == generation && Arrays.equals(w.ranks, ranks);
  }

  @Override
  public int hashCode() {
    return Long.hashCode(epoch) * 31 * 31 + generation * 31 + Arrays.hashCode(ranks);
  }

  @Override
  public String toString() {
    return "world " + id() + " " + Arrays.toString(ranks);
  }
}
