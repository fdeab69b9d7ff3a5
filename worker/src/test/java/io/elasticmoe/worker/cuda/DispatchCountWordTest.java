package io.elasticmoe.worker.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.elasticmoe.worker.runtime.DispatchLayout;
import org.junit.jupiter.api.Test;

class DispatchCountWordTest {

  private static final int MOST_PACKED_ROWS = 256 * DispatchLayout.MAX_TOKENS_PER_RANK;

  @Test
  void slotWordsAreCountPlusOneAsTheProxyAndTheCpuBackendExpect() {
    assertThat(DispatchCountWord.inSlots(0)).isEqualTo(1);
    assertThat(DispatchCountWord.inSlots(17)).isEqualTo(18);
    assertThat(DispatchCountWord.isInPlace(DispatchCountWord.inSlots(17))).isFalse();
    assertThat(DispatchCountWord.rows(DispatchCountWord.inSlots(17))).isEqualTo(17);
  }

  @Test
  void inPlaceWordsRoundTripCountAndFirstRowUpToTheLargestWorld() {
    long word = DispatchCountWord.inPlace(DispatchLayout.MAX_TOKENS_PER_RANK, MOST_PACKED_ROWS - 1);
    assertThat(DispatchCountWord.isInPlace(word)).isTrue();
    assertThat(DispatchCountWord.rows(word)).isEqualTo(DispatchLayout.MAX_TOKENS_PER_RANK);
    assertThat(DispatchCountWord.firstRow(word)).isEqualTo(MOST_PACKED_ROWS - 1);
    assertThat(DispatchCountWord.firstRow(DispatchCountWord.inPlace(3, 0))).isZero();
  }

  @Test
  void noDispatchWordCarriesTheCombineTagSoTheProxyNeverTakesOneForAFlag() {
    long largest = DispatchCountWord.inPlace(DispatchLayout.MAX_TOKENS_PER_RANK, MOST_PACKED_ROWS - 1);
    assertThat(largest & DispatchLayout.COMBINE_FLAG_TAG).isZero();
    assertThat(largest).isPositive();
    assertThat(DispatchLayout.DISPATCH_IN_PLACE & DispatchLayout.COMBINE_FLAG_TAG).isZero();
  }

  @Test
  void rejectsCountsAndRowsOutsideTheirFieldsNamingTheValue() {
    assertThatThrownBy(() -> DispatchCountWord.inSlots(DispatchLayout.MAX_TOKENS_PER_RANK + 1))
        .hasMessageContaining("count is 1025");
    assertThatThrownBy(() -> DispatchCountWord.inPlace(1, -1)).hasMessageContaining("first packed row is -1");
  }
}
