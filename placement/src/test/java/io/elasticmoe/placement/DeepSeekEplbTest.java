package io.elasticmoe.placement;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class DeepSeekEplbTest {

  static List<EplbVectors> sharedVectors() {
    return EplbVectors.load("/eplb/deepseek-eplb-vectors.json");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("sharedVectors")
  void reproducesTheReferenceExactly(EplbVectors vector) {
    ExpertPlacement placement =
        DeepSeekEplb.rebalanceExperts(
            vector.weight(), vector.numReplicas(), vector.numGroups(), vector.numNodes(),
            vector.numGpus());

    assertThat(placement.phy2log()).isDeepEqualTo(vector.phy2log());
    assertThat(placement.log2phy()).isDeepEqualTo(vector.log2phy());
    assertThat(placement.logcnt()).isDeepEqualTo(vector.logcnt());
    assertThat(placement.expertsAtRisk()).isEmpty();
  }
}
