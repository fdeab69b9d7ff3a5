package io.elasticmoe.placement;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which failure domain (node, rack, zone: whatever the deployment's {@code spreadKey} names) each
 * slot's rank lives in, as small integers, and how many domains hold at least one live slot of a
 * layer.
 */
record FailureDomains(int[] domainOfRank, int slotsPerRank) {

  /**
   * @throws IllegalArgumentException when the list does not name one domain per rank, or a name is
   *     blank
   */
  static FailureDomains of(List<String> rankFailureDomains, int numRanks, int slotsPerRank) {
    if (rankFailureDomains.size() != numRanks) {
      throw new IllegalArgumentException(
          String.format(
              "rankFailureDomains has %s entries; it needs one per rank (%s), or none to disable "
                  + "spreading",
              rankFailureDomains.size(), numRanks));
    }
    Map<String, Integer> ids = new HashMap<>();
    int[] domainOfRank = new int[numRanks];
    for (int rank = 0; rank < numRanks; rank++) {
      String name = rankFailureDomains.get(rank);
      if (name == null || name.isBlank()) {
        throw new IllegalArgumentException(
            "rankFailureDomains[%s] is %s; every rank needs the name of its failure domain"
                .formatted(rank, (name == null ? "null" : "blank")));
      }
      domainOfRank[rank] = ids.computeIfAbsent(name, n -> ids.size());
    }
    return new FailureDomains(domainOfRank, slotsPerRank);
  }

  int ofSlot(int slot) {
    return domainOfRank[slot / slotsPerRank];
  }

  /** Live slots per domain in one layer ({@code phy2log} of -1 marks a dead slot). */
  int[] liveSlotsPerDomain(int[] phy2log) {
    int numDomains = 0;
    for (int domain : domainOfRank) {
      numDomains = Math.max(numDomains, domain + 1);
    }
    int[] live = new int[numDomains];
    for (int slot = 0; slot < phy2log.length; slot++) {
      if (phy2log[slot] >= 0) {
        live[ofSlot(slot)]++;
      }
    }
    return live;
  }

  static int countNonZero(int[] counts) {
    int n = 0;
    for (int c : counts) {
      if (c > 0) {
        n++;
      }
    }
    return n;
  }
}
