package io.elasticmoe.worker.runtime;

import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * Decides how the data plane follows a new epoch. Pure: (this rank, its connections, its mask, the new
 * world) → {@link WorldChange}.
 *
 * <p>Rules: a connected rank missing from the world is disconnected (a clean leave, or a loss the
 * operator confirmed). A rank this rank masked that is in the new world has joined that epoch again
 * (an epoch commits only once its ranks joined), so it is a new process: disconnect and connect it
 * afresh. Every rank of the world takes part in the connect barrier, even with nothing to connect.
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
      if (peer == self) {
        continue;
      }
      boolean departed = !inWorld.contains(peer);
      boolean cameBack = inWorld.contains(peer) && peer < mask.length && mask[peer] != 0;
      if (departed || cameBack || view.directive() != WorldView.Directive.RUN) {
        disconnect.add(peer);
      }
    }
    Set<Integer> connect = new TreeSet<>();
    if (view.directive() == WorldView.Directive.RUN) {
      for (int peer : world) {
        if (peer != self && (!connected.contains(peer) || disconnect.contains(peer))) {
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
