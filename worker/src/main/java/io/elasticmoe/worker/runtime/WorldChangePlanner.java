package io.elasticmoe.worker.runtime;

import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * Decides how the data plane follows a new epoch. Pure: (this rank, its connections, its mask, the new
 * world) → {@link WorldChange}.
 *
 * <p>Rules: a connected rank missing from the world is disconnected (a clean leave, or a loss the
 * operator confirmed). Every other rank of the world goes through connect, which reads the metadata it
 * published for this epoch and opens a new endpoint only when that names another process than the one
 * connected (a rank replaced by a new pod) or the old endpoint failed, and unmasks it: a rank this rank
 * masked may be the same live process, once too slow, and closing its endpoint one-sidedly would break
 * that process's endpoint to us (seen in the local cluster: two live ranks masking each other for the
 * rest of the epoch). Every rank of the world takes part in the connect barrier.
 */
public final class WorldChangePlanner {

  private WorldChangePlanner() {}

  public static WorldChange plan(int self, Set<Integer> connected, int[] mask, WorldView view) {
    int[] world = Arrays.stream(view.activeRanks()).sorted().distinct().toArray();
    Set<Integer> inWorld = new TreeSet<>();
    Arrays.stream(world).forEach(inWorld::add);
    if (view.directive() == WorldView.Directive.RUN && !inWorld.contains(self)) {
      throw new IllegalArgumentException(
          "epoch " + view.epoch() + " tells rank " + self + " to RUN but its active ranks " + inWorld + " omit it");
    }
    Set<Integer> disconnect = new TreeSet<>();
    for (int peer : connected) {
      if (peer != self && (!inWorld.contains(peer) || view.directive() != WorldView.Directive.RUN)) {
        disconnect.add(peer);
      }
    }
    Set<Integer> connect = new TreeSet<>();
    if (view.directive() == WorldView.Directive.RUN) {
      for (int peer : world) {
        if (peer != self) {
          connect.add(peer);
        }
      }
    }
    return new WorldChange(
        view.epoch(),
        disconnect.stream().mapToInt(Integer::intValue).toArray(),
        connect.stream().mapToInt(Integer::intValue).toArray(),
        view.directive() == WorldView.Directive.RUN ? world : new int[0]);
  }
}
