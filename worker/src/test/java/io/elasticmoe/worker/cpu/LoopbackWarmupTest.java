package io.elasticmoe.worker.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.elasticmoe.worker.transport.UcxTransport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The warm-up runs real dispatch and combine steps in a world of one, for its budget, and leaves nothing behind. */
class LoopbackWarmupTest {

  private static List<Path> warmupDirectories() throws IOException {
    try (Stream<Path> entries = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
      return entries.filter(p -> p.getFileName().toString().startsWith("elasticmoe-warmup")).toList();
    }
  }

  @Test
  void runsStepsForItsBudgetAndRemovesItsStore() throws IOException {
    List<Path> before = warmupDirectories();
    LoopbackWarmup.Report report = LoopbackWarmup.run(
        new LoopbackWarmup.Shape(4, 16, 512, 2, true), UcxTransport.HOST_TRANSPORTS, Duration.ofMillis(300));
    assertThat(report.steps()).isGreaterThanOrEqualTo(1);
    assertThat(report.elapsed()).isGreaterThanOrEqualTo(Duration.ofMillis(300));
    assertThat(report.firstStepMillis()).isPositive();
    assertThat(report.lastStepsMillis()).isPositive();
    assertThat(report.describe()).contains(report.steps() + " dispatch+combine steps");
    assertThat(warmupDirectories()).containsExactlyInAnyOrderElementsOf(before);
  }

  @Test
  void takesShapesARankMayHave() {
    // More experts per token than the world of one holds (-1 holes), a token count off the row alignment, bf16.
    LoopbackWarmup.Report report = LoopbackWarmup.run(
        new LoopbackWarmup.Shape(2, 6, 512, 4, false), UcxTransport.HOST_TRANSPORTS, Duration.ZERO);
    assertThat(report.steps()).isEqualTo(1);
  }

  @Test
  void aShapeNoLayoutTakesIsRefusedBeforeAnyStep() {
    assertThatThrownBy(() -> LoopbackWarmup.run(
        new LoopbackWarmup.Shape(4, 2000, 512, 2, true), UcxTransport.HOST_TRANSPORTS, Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("maxTokensPerRank is 2000");
  }
}
