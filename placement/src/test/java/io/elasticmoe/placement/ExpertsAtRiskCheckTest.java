package io.elasticmoe.placement;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class ExpertsAtRiskCheckTest {

  /** 4 ranks x 2 slots; expert 0 on ranks 0 and 1, expert 1 on ranks 1 and 2, the rest single. */
  private static ExpertPlacement placement() {
    int[][] phy2log = {{0, 2, 0, 1, 1, 3, 4, 5}};
    int[][][] log2phy = {{{0, 2}, {3, 4}, {1, -1}, {5, -1}, {6, -1}, {7, -1}}};
    int[][] logcnt = {{2, 2, 1, 1, 1, 1}};
    return new ExpertPlacement(phy2log, log2phy, logcnt, List.of());
  }

  @Test
  void listsAReplicatedExpertWhoseReplicasShareOneDomain() {
    List<String> domains = List.of("a", "a", "b", "b");

    assertThat(ExpertsAtRiskCheck.expertsAtRisk(placement(), domains)).containsExactly(0);
  }

  @Test
  void neverListsASingleReplicaExpert() {
    List<String> domains = List.of("a", "b", "c", "d");

    assertThat(ExpertsAtRiskCheck.expertsAtRisk(placement(), domains)).isEmpty();
  }

  @Test
  void listsNothingWhenEveryLiveRankIsInOneDomain() {
    List<String> domains = List.of("a", "a", "a", "a");

    assertThat(ExpertsAtRiskCheck.expertsAtRisk(placement(), domains)).isEmpty();
  }

  @Test
  void listsNothingWhenDomainsAreUnknown() {
    assertThat(ExpertsAtRiskCheck.expertsAtRisk(placement(), List.of())).isEmpty();
  }

  @Test
  void ignoresDeadRanksWhenCountingDomains() {
    // Ranks 2 and 3 are dead (their slots are -1): only domain "a" is alive, so nothing can be
    // spread.
    int[][] phy2log = {{0, 1, 0, 2, -1, -1, -1, -1}};
    int[][][] log2phy = {{{0, 2}, {1, -1}, {3, -1}}};
    int[][] logcnt = {{2, 1, 1}};
    ExpertPlacement placement = new ExpertPlacement(phy2log, log2phy, logcnt, List.of());

    assertThat(ExpertsAtRiskCheck.expertsAtRisk(placement, List.of("a", "a", "b", "b"))).isEmpty();
  }
}
