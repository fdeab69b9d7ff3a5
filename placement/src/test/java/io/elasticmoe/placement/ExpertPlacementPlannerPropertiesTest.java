package io.elasticmoe.placement;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

class ExpertPlacementPlannerPropertiesTest {

  private final PlacementPlanner planner = new ExpertPlacementPlanner();

  @Provide
  Arbitrary<PlacementScenario> scenarios() {
    return PlacementScenario.any();
  }

  @Property(tries = 300)
  void keepsTheShapesWhateverRanksAreAlive(@ForAll("scenarios") PlacementScenario scenario) {
    PlacementRequest request = scenario.request();
    ExpertPlacement placement = planner.plan(request);

    int layers = request.load().length;
    int numLogical = request.load()[0].length;
    assertThat(placement.phy2log()).hasNumberOfRows(layers);
    assertThat(placement.logcnt()).hasNumberOfRows(layers);
    assertThat(placement.log2phy().length).isEqualTo(layers);
    int maxCount = placement.log2phy()[0][0].length;
    for (int layer = 0; layer < layers; layer++) {
      assertThat(placement.phy2log()[layer]).hasSize(request.numPhysicalExperts());
      assertThat(placement.logcnt()[layer]).hasSize(numLogical);
      assertThat(placement.log2phy()[layer]).hasNumberOfRows(numLogical);
      for (int[] replicas : placement.log2phy()[layer]) {
        assertThat(replicas).hasSize(maxCount);
      }
    }
  }

  @Property(tries = 300)
  void givesEveryLogicalExpertALiveReplicaAndUsesEveryLiveSlot(
      @ForAll("scenarios") PlacementScenario scenario) {
    PlacementRequest request = scenario.request();
    ExpertPlacement placement = planner.plan(request);

    int liveSlots = request.activeRanks().size() * scenario.slotsPerRank();
    for (int layer = 0; layer < placement.logcnt().length; layer++) {
      assertThat(java.util.Arrays.stream(placement.logcnt()[layer]).min().orElseThrow())
          .isGreaterThanOrEqualTo(1);
      assertThat(java.util.Arrays.stream(placement.logcnt()[layer]).sum()).isEqualTo(liveSlots);
    }
  }

  @Property(tries = 300)
  void fillsEachLiveRankExactlyAndLeavesDeadRanksEmpty(
      @ForAll("scenarios") PlacementScenario scenario) {
    PlacementRequest request = scenario.request();
    ExpertPlacement placement = planner.plan(request);

    int slotsPerRank = scenario.slotsPerRank();
    Set<Integer> active = new HashSet<>(request.activeRanks());
    for (int[] phy2log : placement.phy2log()) {
      for (int rank = 0; rank < request.numRanks(); rank++) {
        int filled = 0;
        for (int slot = rank * slotsPerRank; slot < (rank + 1) * slotsPerRank; slot++) {
          filled += phy2log[slot] >= 0 ? 1 : 0;
        }
        assertThat(filled)
            .as("filled slots of rank %d", rank)
            .isEqualTo(active.contains(rank) ? slotsPerRank : 0);
      }
    }
  }

  @Property(tries = 300)
  void makesLog2phyTheInverseOfPhy2log(@ForAll("scenarios") PlacementScenario scenario) {
    ExpertPlacement placement = planner.plan(scenario.request());

    for (int layer = 0; layer < placement.phy2log().length; layer++) {
      int[] phy2log = placement.phy2log()[layer];
      int[][] log2phy = placement.log2phy()[layer];
      int[] logcnt = placement.logcnt()[layer];
      Map<Integer, Integer> timesListed = new HashMap<>();
      for (int expert = 0; expert < log2phy.length; expert++) {
        for (int r = 0; r < log2phy[expert].length; r++) {
          int slot = log2phy[expert][r];
          if (r < logcnt[expert]) {
            assertThat(phy2log[slot]).as("phy2log[log2phy[%d][%d]]", expert, r).isEqualTo(expert);
            timesListed.merge(slot, 1, Integer::sum);
          } else {
            assertThat(slot).as("padding log2phy[%d][%d]", expert, r).isEqualTo(-1);
          }
        }
      }
      for (int slot = 0; slot < phy2log.length; slot++) {
        assertThat(timesListed.getOrDefault(slot, 0))
            .as("times slot %d is listed", slot)
            .isEqualTo(phy2log[slot] >= 0 ? 1 : 0);
      }
    }
  }

  @Property(tries = 300)
  void spreadsEveryReplicatedExpertWhenTheDomainsAllowIt(
      @ForAll("scenarios") PlacementScenario scenario) {
    PlacementRequest request = scenario.request();
    ExpertPlacement placement = planner.plan(request);
    if (request.rankFailureDomains().isEmpty()) {
      assertThat(placement.expertsAtRisk()).isEmpty();
      return;
    }

    FailureDomains domains =
        FailureDomains.of(
            request.rankFailureDomains(), request.numRanks(), scenario.slotsPerRank());
    for (int layer = 0; layer < placement.phy2log().length; layer++) {
      int replicated = 0;
      for (int count : placement.logcnt()[layer]) {
        replicated += count >= 2 ? 1 : 0;
      }
      // m replicated experts can each touch two domains iff sum_d min(liveSlots(d), m) >= 2m.
      int reachable = 0;
      for (int slots : domains.liveSlotsPerDomain(placement.phy2log()[layer])) {
        reachable += Math.min(slots, replicated);
      }
      if (reachable >= 2 * replicated) {
        assertThat(ExpertsAtRiskCheck.atRiskInLayer(placement, layer, domains))
            .as("experts confined to one domain in layer %d", layer)
            .isEmpty();
      }
    }
    assertThat(placement.expertsAtRisk())
        .isEqualTo(ExpertsAtRiskCheck.expertsAtRisk(placement, request.rankFailureDomains()));
  }

  @Property(tries = 300)
  void spreadingOnlySwapsSlotsOfTheSamePlan(@ForAll("scenarios") PlacementScenario scenario) {
    PlacementRequest request = scenario.request();
    PlacementRequest withoutDomains =
        new PlacementRequest(
            request.load(),
            request.numPhysicalExperts(),
            request.numGroups(),
            request.numNodes(),
            request.numRanks(),
            request.activeRanks(),
            List.of());

    ExpertPlacement spread = planner.plan(request);
    ExpertPlacement plain = planner.plan(withoutDomains);

    assertThat(spread.logcnt()).isDeepEqualTo(plain.logcnt());
    for (int layer = 0; layer < spread.phy2log().length; layer++) {
      assertThat(spread.phy2log()[layer]).containsExactlyInAnyOrder(plain.phy2log()[layer]);
    }
  }

  @Property(tries = 200)
  void isTheReferenceExactlyWhenAllRanksAreAliveAndDomainsUnknown(
      @ForAll("scenarios") PlacementScenario scenario) {
    PlacementRequest request = scenario.request();
    List<Integer> allRanks =
        java.util.stream.IntStream.range(0, request.numRanks()).boxed().toList();

    ExpertPlacement planned =
        planner.plan(
            new PlacementRequest(
                request.load(),
                request.numPhysicalExperts(),
                request.numGroups(),
                request.numNodes(),
                request.numRanks(),
                allRanks,
                List.of()));
    ExpertPlacement reference =
        DeepSeekEplb.rebalanceExperts(
            request.load(),
            request.numPhysicalExperts(),
            request.numGroups(),
            request.numNodes(),
            request.numRanks());

    assertThat(planned.phy2log()).isDeepEqualTo(reference.phy2log());
    assertThat(planned.log2phy()).isDeepEqualTo(reference.log2phy());
    assertThat(planned.logcnt()).isDeepEqualTo(reference.logcnt());
  }
}
