package io.elasticmoe.placement;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Finds the logical experts one failure-domain outage could take out completely although they are
 * replicated: experts with at least two replicas, all on ranks of one domain, in a layer whose live
 * ranks span at least two domains. An expert with a single replica is not listed: no placement can
 * spread it. This is what {@code status.expertsAtRisk} reports.
 */
public final class ExpertsAtRiskCheck {

  private ExpertsAtRiskCheck() {}

  /**
   * @param rankFailureDomains per rank, its failure domain; an empty list means unknown, and
   *     nothing is reported
   * @return logical expert ids at risk in any layer, sorted, distinct
   */
  public static List<Integer> expertsAtRisk(
      ExpertPlacement placement, List<String> rankFailureDomains) {
    if (rankFailureDomains.isEmpty()) {
      return List.of();
    }
    int numSlots = placement.phy2log()[0].length;
    if (numSlots % rankFailureDomains.size() != 0) {
      throw new IllegalArgumentException(
          String.format(
              "rankFailureDomains has %s entries; the placement's %s slots are not a whole number "
                  + "of slots per rank",
              rankFailureDomains.size(), numSlots));
    }
    FailureDomains domains =
        FailureDomains.of(
            rankFailureDomains, rankFailureDomains.size(), numSlots / rankFailureDomains.size());
    TreeSet<Integer> atRisk = new TreeSet<>();
    for (int layer = 0; layer < placement.phy2log().length; layer++) {
      atRisk.addAll(atRiskInLayer(placement, layer, domains));
    }
    return List.copyOf(atRisk);
  }

  static List<Integer> atRiskInLayer(ExpertPlacement placement, int layer, FailureDomains domains) {
    List<Integer> atRisk = new ArrayList<>();
    if (FailureDomains.countNonZero(domains.liveSlotsPerDomain(placement.phy2log()[layer])) < 2) {
      return atRisk;
    }
    int[][] log2phy = placement.log2phy()[layer];
    for (int expert = 0; expert < log2phy.length; expert++) {
      if (soleDomain(log2phy[expert], placement.logcnt()[layer][expert], domains) >= 0) {
        atRisk.add(expert);
      }
    }
    return atRisk;
  }

  /**
   * The one domain holding all of an expert's replicas when it has at least two; otherwise -1.
   *
   * @param replicas the expert's row of {@code log2phy}
   */
  static int soleDomain(int[] replicas, int count, FailureDomains domains) {
    if (count < 2) {
      return -1;
    }
    int domain = domains.ofSlot(replicas[0]);
    for (int r = 1; r < count; r++) {
      if (domains.ofSlot(replicas[r]) != domain) {
        return -1;
      }
    }
    return domain;
  }
}
