package io.elasticmoe.placement;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class DeepSeekEplbTest {

  static List<EplbVectors> sharedVectors() {
    return EplbVectors.load("/eplb/deepseek-eplb-vectors.json");
  }

  /**
   * Made with the reference on Debian's PyTorch 1.13 from integer, all-zero and all-equal loads and
   * from group loads that exhaust introsort's depth limit: cases where only exact tie-breaking
   * agrees.
   */
  static List<EplbVectors> tieVectors() {
    return EplbVectors.load("/eplb/reference-ties-vectors.json");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource({"sharedVectors", "tieVectors"})
  void reproducesTheReferenceExactly(EplbVectors vector) {
    ExpertPlacement placement =
        DeepSeekEplb.rebalanceExperts(
            vector.weight(),
            vector.numReplicas(),
            vector.numGroups(),
            vector.numNodes(),
            vector.numGpus());

    assertThat(placement.phy2log()).isDeepEqualTo(vector.phy2log());
    assertThat(placement.log2phy()).isDeepEqualTo(vector.log2phy());
    assertThat(placement.logcnt()).isDeepEqualTo(vector.logcnt());
    assertThat(placement.expertsAtRisk()).isEmpty();
  }
}
