package io.elasticmoe.placement;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/**
 * A random but valid placement request: shapes that satisfy DeepSeek's rules (and some that fall
 * back to the global policy), loads with many ties, a live subset of ranks large enough to hold
 * every expert, and failure domains either by node or scattered.
 */
record PlacementScenario(PlacementRequest request, int gpusPerNode, String description) {

  static Arbitrary<PlacementScenario> any() {
    return Combinators.combine(
            Arbitraries.of(1, 2, 4),
            Arbitraries.integers().between(1, 4),
            Arbitraries.integers().between(1, 5),
            Arbitraries.integers().between(1, 3),
            Arbitraries.integers().between(1, 3),
            Arbitraries.longs())
        .as(PlacementScenario::generate);
  }

  private static PlacementScenario generate(
      int numNodes, int gpusPerNode, int slotsPerRank, int groupsPerNode, int layers, long seed) {
    Random random = new Random(seed);
    int numRanks = numNodes * gpusPerNode;
    int numReplicas = numRanks * slotsPerRank;
    // Mostly hierarchical shapes; sometimes a group count that forces the global policy.
    int numGroups =
        random.nextInt(4) == 0 ? numNodes * groupsPerNode + 1 : numNodes * groupsPerNode;
    while (numGroups > numReplicas) {
      numGroups--;
    }
    int groupSize = 1 + random.nextInt(numReplicas / numGroups);
    int numLogical = numGroups * groupSize;

    double[][] load = new double[layers][numLogical];
    int loadKind = random.nextInt(3);
    for (double[] row : load) {
      for (int e = 0; e < numLogical; e++) {
        row[e] =
            switch (loadKind) {
              case 0 -> random.nextInt(4);
              case 1 -> random.nextDouble() * 1000;
              default -> random.nextInt(10) == 0 ? 5000 + random.nextInt(5000) : random.nextInt(50);
            };
      }
    }

    int minActive = Math.max(1, (numLogical + slotsPerRank - 1) / slotsPerRank);
    List<Integer> ranks = new ArrayList<>();
    for (int r = 0; r < numRanks; r++) {
      ranks.add(r);
    }
    int numActive =
        random.nextBoolean() ? numRanks : minActive + random.nextInt(numRanks - minActive + 1);
    java.util.Collections.shuffle(ranks, random);
    List<Integer> active = new ArrayList<>(ranks.subList(0, numActive));
    active.sort(null);

    List<String> domains = new ArrayList<>();
    int numDomains = 1 + random.nextInt(4);
    boolean byNode = random.nextBoolean();
    for (int r = 0; r < numRanks; r++) {
      int domain = byNode ? (r / gpusPerNode) % numDomains : random.nextInt(numDomains);
      domains.add(random.nextInt(5) == 0 ? "" : "zone-" + domain);
    }
    List<String> rankFailureDomains = domains.contains("") ? List.of() : domains;

    PlacementRequest request =
        new PlacementRequest(
            load,
            numReplicas,
            numGroups,
            numNodes,
            numRanks,
            List.copyOf(active),
            rankFailureDomains);
    String description =
        layers
            + "x"
            + numLogical
            + "->"
            + numReplicas
            + " groups="
            + numGroups
            + " nodes="
            + numNodes
            + " ranks="
            + numRanks
            + " active="
            + active
            + " domains="
            + rankFailureDomains
            + " load[0]="
            + Arrays.toString(load[0]);
    return new PlacementScenario(request, gpusPerNode, description);
  }

  int slotsPerRank() {
    return request.numPhysicalExperts() / request.numRanks();
  }

  @Override
  public String toString() {
    return description;
  }
}
