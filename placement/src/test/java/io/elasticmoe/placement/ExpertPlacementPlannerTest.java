package io.elasticmoe.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class ExpertPlacementPlannerTest {

  private final PlacementPlanner planner = new ExpertPlacementPlanner();

  /** 8 experts in 2 groups on 2 nodes of 2 ranks, 3 slots per rank: 4 redundant replicas. */
  private static PlacementRequest request(List<Integer> activeRanks, List<String> domains) {
    double[][] load = {{90, 10, 40, 20, 5, 5, 60, 30}, {1, 1, 1, 1, 1, 1, 1, 1}};
    return new PlacementRequest(load, 12, 2, 2, 4, activeRanks, domains);
  }

  @Test
  void spreadsReplicasThatTheHierarchicalPolicyKeepsOnOneNode() {
    List<Integer> all = List.of(0, 1, 2, 3);
    List<String> byNode = List.of("node-a", "node-a", "node-b", "node-b");
    ExpertPlacement unspread = planner.plan(request(all, List.of()));
    assertThat(ExpertsAtRiskCheck.expertsAtRisk(unspread, byNode)).isNotEmpty();

    ExpertPlacement spread = planner.plan(request(all, byNode));

    assertThat(spread.expertsAtRisk()).isEmpty();
    assertThat(ExpertsAtRiskCheck.expertsAtRisk(spread, byNode)).isEmpty();
  }

  @Test
  void reportsExpertsItCannotSpreadBecauseOneDomainHoldsAlmostEverySlot() {
    // Rank 3 alone in zone-b: its 3 slots cannot host a replica of each of the 4 replicated
    // experts.
    List<String> lopsided = List.of("zone-a", "zone-a", "zone-a", "zone-b");
    double[][] load = {{50, 50, 50, 50, 1, 1, 1, 1}};

    ExpertPlacement placement =
        planner.plan(new PlacementRequest(load, 12, 1, 1, 4, List.of(0, 1, 2, 3), lopsided));

    assertThat(placement.logcnt()[0]).containsExactly(2, 2, 2, 2, 1, 1, 1, 1);
    assertThat(placement.expertsAtRisk()).hasSize(1);
  }

  @Test
  void leavesTheReferencePlacementAloneWhenDomainsAreUnknown() {
    ExpertPlacement placement = planner.plan(request(List.of(0, 1, 2, 3), List.of()));
    ExpertPlacement reference =
        DeepSeekEplb.rebalanceExperts(request(List.of(), List.of()).load(), 12, 2, 2, 4);

    assertThat(placement.phy2log()).isDeepEqualTo(reference.phy2log());
    assertThat(placement.expertsAtRisk()).isEmpty();
  }

  @Test
  void rejectsFailureDomainsThatDoNotCoverEveryRank() {
    assertThatThrownBy(() -> planner.plan(request(List.of(0, 1, 2, 3), List.of("a", "b"))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "rankFailureDomains has 2 entries; it needs one per rank (4), or none to disable"
                + " spreading");
  }

  @Test
  void rejectsABlankFailureDomain() {
    assertThatThrownBy(
            () -> planner.plan(request(List.of(0, 1, 2, 3), List.of("a", "a", " ", "b"))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "rankFailureDomains[2] is blank; every rank needs the name of its failure domain");
  }

  @Test
  void rejectsMissingActiveRanks() {
    assertThatThrownBy(() -> planner.plan(request(null, List.of())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("activeRanks is null; list the live ranks");
  }

  @Test
  void rejectsPhysicalExpertsThatDoNotDivideOverRanks() {
    double[][] load = {{1, 2, 3, 4}};

    assertThatThrownBy(
            () ->
                planner.plan(
                    new PlacementRequest(load, 6, 1, 1, 4, List.of(0, 1, 2, 3), List.of())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("num_replicas is 6; it must be a multiple of num_gpus (4)");
  }
}
