package io.elasticmoe.placement;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ReferenceSortOrderTest {

  @Test
  void ordersTiesOfMoreThanSixteenItemsAsPyTorchDoes() {
    float[] values = {
      1, 2, 1, 1, 2, 2, 0, 0, 2, 1, 2, 2, 0, 0, 1, 1, 0, 0, 2, 2,
      2, 0, 2, 1, 1, 2, 2, 2, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0, 2, 0
    };

    // torch.tensor(values).sort(-1, descending=True).indices with PyTorch 1.13 on the CPU.
    assertThat(ReferenceSortOrder.descending(values))
        .containsExactly(
            1, 38, 32, 30, 28, 27, 26, 25, 22, 20, 19, 18, 4, 5, 11, 10, 8, 2, 3, 24, 23, 9, 0, 15,
            14, 36, 37, 35, 34, 33, 39, 6, 31, 29, 12, 7, 21, 17, 16, 13);
  }

  @Test
  void keepsTiesInIndexOrderUpToSixteenItems() {
    float[] values = {3, 1, 3, 2, 1, 3, 2, 2, 1, 3, 1, 2, 3, 1, 2, 3};

    assertThat(ReferenceSortOrder.descending(values))
        .containsExactly(0, 2, 5, 9, 12, 15, 3, 6, 7, 11, 14, 1, 4, 8, 10, 13);
  }

  @Test
  void ordersTiesAsPyTorchDoesOnceQuicksortFallsBackToHeapsort() {
    // Built with a median-of-three adversary so that introsort spends its depth limit and heapsorts
    // the
    // 40 tied zeros; a stable sort would order them 0, 2, 4, ...
    float[] values = {
      0, 59, 0, 57, 0, 55, 0, 53, 0, 51, 0, 49, 0, 47, 0, 45, 0, 43, 0, 41,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    };

    // torch.tensor(values).sort(-1, descending=True).indices with PyTorch 1.13 on the CPU.
    assertThat(ReferenceSortOrder.descending(values))
        .containsExactly(
            30, 1, 31, 3, 32, 5, 33, 7, 34, 9, 35, 11, 36, 13, 37, 15, 38, 17, 39, 19, 58, 42, 0,
            54, 46, 16, 40, 24, 44, 4, 52, 48, 12, 56, 28, 59, 29, 41, 21, 43, 2, 45, 25, 47, 6, 51,
            49, 10, 53, 27, 55, 14, 57, 23, 18, 20, 22, 26, 8, 50);
  }
}
