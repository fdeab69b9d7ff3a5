package io.elasticmoe.operator.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentSpec;
import io.elasticmoe.api.v1alpha1.ScaleDownSpec;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.constraints.UniqueElements;
import org.junit.jupiter.api.Test;

class ScalePlannerTest {

  static ElasticMoEDeploymentSpec spec(int replicas, int minAvailable) {
    ElasticMoEDeploymentSpec spec = SpecValidatorTest.validSpec();
    spec.replicas = replicas;
    spec.minAvailableRanks = minAvailable;
    return spec;
  }

  @Test
  void scaleUpFromNothingCreatesRanksFromZero() {
    ScalePlan plan = ScalePlanner.plan(spec(4, 1), Set.of());
    assertThat(plan.plannedRanks()).containsExactly(0, 1, 2, 3);
    assertThat(plan.ranksToCreate()).containsExactly(0, 1, 2, 3);
    assertThat(plan.ranksToRemove()).isEmpty();
    assertThat(plan.blocked()).isFalse();
  }

  @Test
  void scaleDownRemovesTheHighestRanksFirst() {
    ScalePlan plan = ScalePlanner.plan(spec(3, 1), Set.of(0, 1, 2, 3, 4, 5));
    assertThat(plan.plannedRanks()).containsExactly(0, 1, 2);
    assertThat(plan.ranksToRemove()).containsExactly(3, 4, 5);
  }

  @Test
  void explicitScaleDownRemovesTheListedRanksFirst() {
    ElasticMoEDeploymentSpec spec = spec(4, 1);
    spec.scaleDown = new ScaleDownSpec();
    spec.scaleDown.rankSelection = ScaleDownSpec.RankSelection.Explicit;
    spec.scaleDown.ranks = List.of(1, 4);
    ScalePlan plan = ScalePlanner.plan(spec, Set.of(0, 1, 2, 3, 4, 5));
    assertThat(plan.plannedRanks()).containsExactly(0, 2, 3, 5);
    assertThat(plan.ranksToRemove()).containsExactly(1, 4);
  }

  @Test
  void scaleUpRefillsHolesBeforeAddingHigherRanks() {
    ScalePlan plan = ScalePlanner.plan(spec(5, 1), Set.of(0, 2, 3, 5));
    assertThat(plan.plannedRanks()).containsExactly(0, 1, 2, 3, 5);
    assertThat(plan.ranksToCreate()).containsExactly(1);
  }

  @Test
  void lostRankIsReplacedWithTheSameRank() {
    ScalePlan plan = ScalePlanner.plan(spec(4, 1), Set.of(0, 1, 3));
    assertThat(plan.ranksToCreate()).containsExactly(2);
  }

  @Test
  void scaleBelowMinAvailableRanksIsBlockedAndKeepsTheCurrentRanks() {
    ScalePlan plan = ScalePlanner.plan(spec(1, 3), Set.of(0, 1, 2, 3));
    assertThat(plan.plannedRanks()).containsExactly(0, 1, 2, 3);
    assertThat(plan.ranksToRemove()).isEmpty();
    assertThat(plan.blockedMessage()).isEqualTo("spec.replicas is 1, below minAvailableRanks (3); keeping 4 ranks");
  }

  @Test
  void scaleToZeroStopsEveryRank() {
    ScalePlan plan = ScalePlanner.plan(spec(0, 3), Set.of(0, 1, 2, 3));
    assertThat(plan.plannedRanks()).isEmpty();
    assertThat(plan.ranksToRemove()).containsExactly(0, 1, 2, 3);
    assertThat(plan.blocked()).isFalse();
  }

  @Property(tries = 2000)
  void survivingRanksKeepTheirNumbers(
      @ForAll @Size(max = 8) @UniqueElements List<@IntRange(min = 0, max = 7) Integer> existing,
      @ForAll @IntRange(min = 0, max = 8) int replicas) {
    Set<Integer> existingRanks = new TreeSet<>(existing);
    ScalePlan plan = ScalePlanner.plan(spec(replicas, 1), existingRanks);

    assertThat(plan.plannedRanks()).hasSize(replicas);
    assertThat(plan.plannedRanks()).allMatch(rank -> rank >= 0 && rank < 8);
    // Every existing rank is either kept or removed; none is renumbered.
    for (int rank : existingRanks) {
      assertThat(plan.plannedRanks().contains(rank) ^ plan.ranksToRemove().contains(rank)).isTrue();
    }
    assertThat(plan.ranksToCreate()).allMatch(rank -> !existingRanks.contains(rank));
    if (replicas >= existingRanks.size()) {
      assertThat(plan.ranksToRemove()).isEmpty();
    } else {
      assertThat(plan.ranksToCreate()).isEmpty();
    }
  }
}
