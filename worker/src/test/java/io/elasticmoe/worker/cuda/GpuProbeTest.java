package io.elasticmoe.worker.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class GpuProbeTest {

  @Test
  void aMissingDriverLibraryIsReportedWithTheFixAndTheFallback() {
    String reason = GpuProbe.describe(new UnsatisfiedLinkError("Error while loading native library \"JCudaDriver\"\n"
        + "java.lang.UnsatisfiedLinkError: /tmp/libJCudaDriver.so: libcuda.so.1: cannot open shared object file: No such file\n"
        + "\tat java.base/jdk.internal.loader.NativeLibraries.load(Native Method)"));
    assertThat(reason).contains("no CUDA driver").contains("libcuda.so.1: cannot open shared object file")
        .doesNotContain("NativeLibraries").contains("--backend cpu");
  }

  @Test
  void aLaterCallAfterTheFailedLoadIsReportedTheSameWay() {
    String reason = GpuProbe.describe(new NoClassDefFoundError("Could not initialize class jcuda.driver.JCudaDriver"));
    assertThat(reason).contains("no CUDA driver").contains("JCudaDriver").contains("--backend cpu");
  }

  @Test
  void probeEitherFindsDevicesOrSaysWhyNot() {
    if (GpuProbe.available()) {
      assertThat(GpuProbe.deviceCount()).isPositive();
    } else {
      assertThat(GpuProbe.deviceCount()).isZero();
      assertThat(GpuProbe.reason()).isNotBlank();
    }
  }
}
