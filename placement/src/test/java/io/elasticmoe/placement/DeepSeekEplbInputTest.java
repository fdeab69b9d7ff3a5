package io.elasticmoe.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class DeepSeekEplbInputTest {

  private static final double[][] LOAD = {{4, 3, 2, 1, 8, 7, 6, 5}};

  @Test
  void sumsGroupLoadsInPyTorchsOrderNotLeftToRight() {
    float[] row = {
      1272210.875f,
      83.23592376708984f,
      86.6525650024414f,
      6272.44873046875f,
      908.4237060546875f,
      72.53909301757812f,
      739.4243774414062f,
      686974.0f,
      8.821897506713867f,
      4.214572429656982f,
      1090.47265625f,
      238407.1875f,
      2569814.0f,
      29.343534469604492f,
      9.292362213134766f,
      1264001.75f,
      5.593663215637207f,
      280.2193908691406f,
      7.489850997924805f,
      2691939.25f,
      0.24906402826309204f,
      17625.376953125f,
      53.10036087036133f,
      9.219212532043457f,
      89094.0234375f,
      65.69320678710938f,
      0.5898756384849548f,
      47479.2890625f,
      0.7009699940681458f,
      0.21259178221225739f,
      4822.357421875f,
      3.189044952392578f,
      7526.2900390625f,
      73.70054626464844f,
      79326.6640625f,
      3518341.0f,
      900835.9375f,
      0.9442393183708191f,
      0.8634727001190186f,
      624960.5625f
    };

    // torch.tensor(row).sum() is 14023166.0; adding left to right in float gives 14023165.0.
    assertThat(DeepSeekEplb.groupLoad(row, 0, row.length)).isEqualTo(14023166.0f);
  }

  @Test
  void sumsLongGroupsThroughPyTorchsMultiLevelCascade() {
    // 2000 values spanning seven decades: long enough for PyTorch's cascade to carry partial sums
    // up its levels.
    float[] row = new float[2000];
    for (int i = 0; i < row.length; i++) {
      row[i] = (float) (((i * 7919) % 1000) * Math.pow(10, i % 7) / 7.0);
    }

    // torch.tensor(row).sum() is 22557177856.0; adding left to right in float gives 22557155328.0.
    assertThat(DeepSeekEplb.groupLoad(row, 0, row.length)).isEqualTo(22557177856.0f);
  }

  @Test
  void rejectsLayersOfDifferentWidths() {
    double[][] ragged = {{1, 2, 3, 4}, {1, 2, 3}};

    assertThatThrownBy(() -> DeepSeekEplb.rebalanceExperts(ragged, 4, 1, 1, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("weight[1] has 3 experts; every layer must have 4 like weight[0]");
  }

  @Test
  void rejectsNegativeLoadNamingTheCell() {
    double[][] load = {{1, 2, -3, 4}};

    assertThatThrownBy(() -> DeepSeekEplb.rebalanceExperts(load, 4, 1, 1, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("weight[0][2] is -3.0; loads must be finite, non-negative");
  }

  @Test
  void rejectsNaNLoad() {
    double[][] load = {{1, Double.NaN, 3, 4}};

    assertThatThrownBy(() -> DeepSeekEplb.rebalanceExperts(load, 4, 1, 1, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("weight[0][1] is NaN;");
  }

  @Test
  void rejectsLoadBeyondFloatRange() {
    double[][] load = {{1, 1e39, 3, 4}};

    assertThatThrownBy(() -> DeepSeekEplb.rebalanceExperts(load, 4, 1, 1, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("weight[0][1] is 1.0E39;");
  }

  @Test
  void rejectsEmptyLoad() {
    assertThatThrownBy(() -> DeepSeekEplb.rebalanceExperts(new double[0][], 4, 1, 1, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("weight has no layers; at least one is required");
  }

  @Test
  void rejectsReplicasThatDoNotDivideOverGpus() {
    assertThatThrownBy(() -> DeepSeekEplb.rebalanceExperts(LOAD, 10, 2, 1, 4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("num_replicas is 10; it must be a multiple of num_gpus (4)");
  }

  @Test
  void rejectsFewerReplicasThanLogicalExperts() {
    assertThatThrownBy(() -> DeepSeekEplb.rebalanceExperts(LOAD, 4, 2, 1, 4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "num_replicas is 4; it must be at least num_logical (8): every logical expert needs a"
                + " replica");
  }

  @Test
  void rejectsGroupsThatDoNotDivideTheExperts() {
    assertThatThrownBy(() -> DeepSeekEplb.rebalanceExperts(LOAD, 8, 3, 1, 4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("num_logical is 8; it must be a multiple of num_groups (3)");
  }

  @Test
  void rejectsGpusThatDoNotDivideOverNodes() {
    assertThatThrownBy(() -> DeepSeekEplb.rebalanceExperts(LOAD, 12, 2, 2, 3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("num_gpus is 3; it must be a multiple of num_nodes (2)");
  }

  @Test
  void rejectsHierarchicalPolicyWhenGroupsDoNotDivideOverNodes() {
    assertThatThrownBy(() -> DeepSeekEplb.rebalanceHierarchical(LOAD, 8, 2, 4, 4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("num_groups is 2; the hierarchical policy needs a multiple of num_nodes (4)");
  }

  @Test
  void rejectsZeroGpus() {
    assertThatThrownBy(() -> DeepSeekEplb.rebalanceExperts(LOAD, 8, 1, 1, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("num_gpus is 0; it must be at least 1");
  }

  @Test
  void fallsBackToTheGlobalPolicyWhenGroupsDoNotDivideOverNodes() {
    double[][] load = {{10, 1, 1, 1, 1, 1}};

    ExpertPlacement auto = DeepSeekEplb.rebalanceExperts(load, 8, 3, 2, 2);
    ExpertPlacement global = DeepSeekEplb.rebalanceGlobal(load, 8, 2);

    assertThat(auto.phy2log()).isDeepEqualTo(global.phy2log());
    assertThat(auto.logcnt()[0]).containsExactly(3, 1, 1, 1, 1, 1);
  }
}
