package io.elasticmoe.worker.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class BackendChoiceTest {

  private static final GpuProbe.Result TWO_GPUS = new GpuProbe.Result(true, 2, "2 CUDA device(s) visible");
  private static final GpuProbe.Result NO_DRIVER = new GpuProbe.Result(false, 0,
      "no CUDA driver: JCuda could not load its natives (libcuda.so.1: cannot open shared object file); "
          + "install the NVIDIA driver or use --backend cpu");

  @Test
  void cpuIsTakenAsAskedWithoutProbingTheGpu() {
    assertThat(BackendChoice.choose("cpu", () -> TWO_GPUS, 3, -1).kind()).isEqualTo(BackendChoice.Kind.CPU);
    assertThat(BackendChoice.choose("CPU", () -> {
      throw new AssertionError("a cpu rank must not load the CUDA driver");
    }, 3, -1).kind()).isEqualTo(BackendChoice.Kind.CPU);
  }

  @Test
  void cudaTakesTheRanksGpuModuloTheDeviceCountOrTheExplicitOne() {
    BackendChoice byRank = BackendChoice.choose("cuda", () -> TWO_GPUS, 3, -1);
    assertThat(byRank.kind()).isEqualTo(BackendChoice.Kind.CUDA);
    assertThat(byRank.deviceOrdinal()).isEqualTo(1);
    assertThat(byRank.note()).contains("GPU 1");
    assertThat(BackendChoice.choose("cuda", () -> TWO_GPUS, 3, 0).deviceOrdinal()).isZero();
  }

  @Test
  void cudaWithoutADriverIsRefusedWithTheProbesReasonAndBothWaysOut() {
    assertThatThrownBy(() -> BackendChoice.choose("cuda", () -> NO_DRIVER, 0, -1))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("libcuda.so.1").hasMessageContaining("--backend auto").hasMessageContaining("--backend cpu");
  }

  @Test
  void autoFallsBackToCpuWithTheReasonOnlyWhenNoGpuIsUsable() {
    BackendChoice fallback = BackendChoice.choose("auto", () -> NO_DRIVER, 0, -1);
    assertThat(fallback.kind()).isEqualTo(BackendChoice.Kind.CPU);
    assertThat(fallback.note()).contains("fell back").contains("libcuda.so.1");
    BackendChoice gpu = BackendChoice.choose("auto", () -> TWO_GPUS, 4, -1);
    assertThat(gpu.kind()).isEqualTo(BackendChoice.Kind.CUDA);
    assertThat(gpu.deviceOrdinal()).isZero();
  }

  @Test
  void anUnknownBackendOrAGpuOutOfRangeNamesTheValueAndTheChoices() {
    assertThatThrownBy(() -> BackendChoice.choose("rocm", () -> TWO_GPUS, 0, -1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("rocm").hasMessageContaining("cpu, cuda or auto");
    assertThatThrownBy(() -> BackendChoice.choose("cuda", () -> TWO_GPUS, 0, 2))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--gpu is 2").hasMessageContaining("0..1");
    assertThatThrownBy(() -> BackendChoice.choose("auto", () -> TWO_GPUS, 0, -5))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--gpu is -5");
  }

  @Test
  void thisHostsRealProbeDecidesAutoWithoutFailing() {
    // The build host has no GPU: the probe's "no driver / no device" path is the real one here.
    BackendChoice choice = BackendChoice.choose("auto", GpuProbe::result, 0, -1);
    assertThat(choice.kind()).isEqualTo(GpuProbe.available() ? BackendChoice.Kind.CUDA : BackendChoice.Kind.CPU);
    if (!GpuProbe.available()) {
      assertThat(choice.note()).contains(GpuProbe.reason());
      assertThatThrownBy(() -> BackendChoice.choose("cuda", GpuProbe::result, 0, -1)).hasMessageContaining(GpuProbe.reason());
    }
  }
}
