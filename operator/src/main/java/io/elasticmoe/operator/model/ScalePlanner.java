package io.elasticmoe.operator.model;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentSpec;
import io.elasticmoe.api.v1alpha1.ScaleDownSpec;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * Decides which ranks exist. Ranks are sticky: a rank that keeps running keeps its number, a scale-up
 * fills the lowest free numbers, and a replacement for a lost pod gets the lost pod's rank.
 *
 * <p>Rules, in order:
 *
 * <ol>
 *   <li>{@code replicas = 0} stops every rank (a deliberate shutdown).
 *   <li>{@code 0 < replicas < minAvailableRanks} is not applied: the world would fall below the size its
 *       epochs may commit with. The current ranks are kept (at least minAvailableRanks) and the plan
 *       says why ({@code ScaleDownBlocked}).
 *   <li>Scale-down removes ranks chosen by {@code scaleDown.rankSelection}: the highest first, or the listed
 *       ranks first (then the highest).
 *   <li>Scale-up adds the lowest rank numbers not in use, so holes left by explicit removals are refilled.
 * </ol>
 */
public final class ScalePlanner {

  private ScalePlanner() {}

  public static ScalePlan plan(ElasticMoEDeploymentSpec spec, Set<Integer> existingRanks) {
    int requested = spec.replicas;
    int minAvailable = spec.minAvailableRanks == null ? 1 : spec.minAvailableRanks;
    String blocked = null;
    int target = requested;
    if (requested > 0 && requested < minAvailable) {
      target = Math.max(minAvailable, Math.min(existingRanks.size(), spec.maxRanks));
      blocked =
          "spec.replicas is " + requested + ", below minAvailableRanks (" + minAvailable + "); keeping " + target
              + " ranks";
    }

    SortedSet<Integer> planned = new TreeSet<>();
    for (int rank : existingRanks) {
      if (rank < spec.maxRanks) {
        planned.add(rank);
      }
    }
    List<Integer> removalOrder = removalOrder(spec.scaleDown, planned);
    while (planned.size() > target) {
      planned.remove(removalOrder.remove(0));
    }
    for (int rank = 0; planned.size() < target; rank++) {
      planned.add(rank);
    }

    List<Integer> toCreate = planned.stream().filter(r -> !existingRanks.contains(r)).toList();
    List<Integer> toRemove = existingRanks.stream().filter(r -> !planned.contains(r)).sorted().toList();
    return new ScalePlan(planned, toCreate, toRemove, blocked);
  }

  private static List<Integer> removalOrder(ScaleDownSpec scaleDown, SortedSet<Integer> ranks) {
    List<Integer> order = new ArrayList<>();
    if (scaleDown != null
        && scaleDown.rankSelection == ScaleDownSpec.RankSelection.Explicit
        && scaleDown.ranks != null) {
      scaleDown.ranks.stream().filter(ranks::contains).distinct().forEach(order::add);
    }
    ranks.stream().sorted(Comparator.reverseOrder()).filter(r -> !order.contains(r)).forEach(order::add);
    return order;
  }
}
