package io.elasticmoe.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class ElasticityAwareEplbTest {

  private static final double[][] LOAD = {{90, 10, 40, 20, 5, 5, 60, 30}};

  @Test
  void isThePlainAlgorithmWhenEveryRankIsAlive() {
    ExpertPlacement elastic = ElasticityAwareEplb.rebalance(LOAD, 12, 2, 2, 4, List.of(0, 1, 2, 3));
    ExpertPlacement plain = DeepSeekEplb.rebalanceExperts(LOAD, 12, 2, 2, 4);

    assertThat(elastic.phy2log()).isDeepEqualTo(plain.phy2log());
    assertThat(elastic.log2phy()).isDeepEqualTo(plain.log2phy());
    assertThat(elastic.logcnt()).isDeepEqualTo(plain.logcnt());
  }

  @Test
  void runsTheGlobalPolicyOnTheLiveRanksAndEmptiesTheDeadOnes() {
    ExpertPlacement elastic = ElasticityAwareEplb.rebalance(LOAD, 12, 2, 2, 4, List.of(0, 2, 3));
    ExpertPlacement onThreeGpus = DeepSeekEplb.rebalanceGlobal(LOAD, 9, 3);

    int[] expected = new int[12];
    System.arraycopy(onThreeGpus.phy2log()[0], 0, expected, 0, 3);
    expected[3] = -1;
    expected[4] = -1;
    expected[5] = -1;
    System.arraycopy(onThreeGpus.phy2log()[0], 3, expected, 6, 6);
    assertThat(elastic.phy2log()[0]).containsExactly(expected);
    assertThat(elastic.logcnt()).isDeepEqualTo(onThreeGpus.logcnt());
    for (int[] replicas : elastic.log2phy()[0]) {
      assertThat(replicas).doesNotContain(3, 4, 5);
    }
  }

  @Test
  void rejectsTooFewLiveSlotsForTheLogicalExperts() {
    assertThatThrownBy(() -> ElasticityAwareEplb.rebalance(LOAD, 12, 2, 2, 4, List.of(1, 3)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "2 active ranks x 3 slots per rank = 6 slots, fewer than the 8 logical experts: some"
                + " expert would have no live replica");
  }

  @Test
  void rejectsAnActiveRankOutsideTheWorld() {
    assertThatThrownBy(() -> ElasticityAwareEplb.rebalance(LOAD, 12, 2, 2, 4, List.of(0, 4)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("active rank 4 is outside [0, 4): num_gpus is 4");
  }

  @Test
  void rejectsActiveRanksOutOfOrderOrRepeated() {
    assertThatThrownBy(() -> ElasticityAwareEplb.rebalance(LOAD, 12, 2, 2, 4, List.of(0, 2, 2)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("active ranks [0, 2, 2] must be strictly increasing; 2 follows 2");
  }

  @Test
  void rejectsAWorldWithNoLiveRank() {
    assertThatThrownBy(() -> ElasticityAwareEplb.rebalance(LOAD, 12, 2, 2, 4, List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("active ranks are empty; at least one rank must be alive");
  }
}
