package io.elasticmoe.worker.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class KernelLibraryTest {

  private static LowLatencyParams step(long numTokens, long numTopk, long numRanks, boolean fp8) {
    return new LowLatencyParams()
        .set(LowLatencyParams.Field.NUM_TOKENS, numTokens)
        .set(LowLatencyParams.Field.NUM_TOPK, numTopk)
        .set(LowLatencyParams.Field.NUM_RANKS, numRanks)
        .set(LowLatencyParams.Field.USE_FP8, fp8 ? 1 : 0);
  }

  @Test
  void rejectsHiddenWithoutCompiledInstanceNamingTheSupportedSizes() {
    assertThatThrownBy(() -> KernelLibrary.checkStep(6144, step(8, 8, 2, true)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("hidden is 6144")
        .hasMessageContaining("[512, 1024, 2048, 4096, 7168]");
  }

  @Test
  void rejectsTokensTopkAndRanksBeyondTheKernelLimits() {
    assertThatThrownBy(() -> KernelLibrary.checkStep(7168, step(1025, 8, 2, true)))
        .hasMessageContaining("numTokens is 1025").hasMessageContaining("1024");
    assertThatThrownBy(() -> KernelLibrary.checkStep(7168, step(128, 17, 2, true)))
        .hasMessageContaining("numTopk is 17").hasMessageContaining("16");
    assertThatThrownBy(() -> KernelLibrary.checkStep(7168, step(128, 8, 257, true)))
        .hasMessageContaining("R_b is 257").hasMessageContaining("256");
  }

  @Test
  void acceptsEveryCompiledSizeAtTheLimits() {
    for (int hidden : KernelLibrary.SUPPORTED_HIDDEN) {
      KernelLibrary.checkStep(hidden, step(1024, 16, 256, true));
      KernelLibrary.checkStep(hidden, step(0, 1, 1, false));
    }
  }

  @Test
  void exportsOneEntryPerKernelAndHiddenSize() {
    assertThat(KernelLibrary.exportedBy("dispatch_ll"))
        .hasSize(KernelLibrary.SUPPORTED_HIDDEN.size()).contains("dispatch_ll_h7168", "dispatch_ll_h512");
    assertThat(KernelLibrary.exportedBy("combine_ll")).contains("combine_ll_h7168");
  }

  @Test
  void paramsSerialiseLittleEndianInFieldOrder() {
    LowLatencyParams params = new LowLatencyParams()
        .set(LowLatencyParams.Field.LOCAL_BASE, 0x1122334455667788L)
        .set(LowLatencyParams.Field.EXCHANGE_WAIT_NS, 42);
    ByteBuffer bytes = ByteBuffer.wrap(params.toBytes()).order(ByteOrder.LITTLE_ENDIAN);
    assertThat(bytes.capacity()).isEqualTo(LowLatencyParams.BYTES);
    assertThat(bytes.getLong(0)).isEqualTo(0x1122334455667788L);
    assertThat(bytes.getLong(LowLatencyParams.BYTES - 8)).isEqualTo(42);
  }

  @Test
  void exchangeWaitIsAnEighthOfTheTimeout() {
    assertThat(CudaDispatchBackend.exchangeWaitNanos(Duration.ofSeconds(4))).isEqualTo(500_000_000L);
  }

  @Test
  void strideIsTheDistanceBetweenNeighboursAndZeroForOneEntry() {
    assertThat(CudaDispatchBackend.stride(4, i -> 100 + 16L * i)).isEqualTo(16);
    assertThat(CudaDispatchBackend.stride(1, i -> {
      throw new AssertionError("index " + i + " must not be asked for");
    })).isZero();
  }
}
