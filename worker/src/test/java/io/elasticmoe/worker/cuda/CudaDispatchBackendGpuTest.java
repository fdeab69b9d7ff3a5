package io.elasticmoe.worker.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.worker.runtime.WorkerJvm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two ranks on two GPUs, one JVM each ({@link CudaRankProcess}). Skipped with the probe's reason where fewer
 * than two GPUs are visible (CI). kernels/device/gpu-tests.sh runs it on the device machine, and runs the
 * {@code small} scenario under compute-sanitizer memcheck and racecheck.
 */
@Tag("gpu")
class CudaDispatchBackendGpuTest {

  private static final long RANK_DEADLINE_SECONDS = 400;

  @BeforeEach
  void needsTwoGpus() {
    Assumptions.assumeTrue(GpuProbe.available(), GpuProbe.reason());
    Assumptions.assumeTrue(GpuProbe.deviceCount() >= 2, "two GPUs needed; " + GpuProbe.reason());
  }

  @Test
  void dispatchAndCombineAreBitExactWithTheCpuBackend(@TempDir Path store) throws Exception {
    List<String> logs = runRanks("exact", store, 5_000);
    for (int rank = 0; rank < 2; rank++) {
      assertThat(logs.get(rank)).contains("PASS rank " + rank + " small").contains("PASS rank " + rank + " h7168")
          .contains("DONE rank " + rank);
    }
  }

  @Test
  void killedPeerIsMaskedWithinTheTimeoutWithoutHangingTheSurvivor(@TempDir Path store) throws Exception {
    List<String> logs = runRanks("killed", store, 1_500);
    assertThat(logs.get(1)).contains("HALT rank 1");
    assertThat(logs.get(0)).contains("rank 1 masked after").contains("keeps serving").contains("DONE rank 0");
  }

  /** The same bit-exact checks with each rank treating the other as another node's: host staging proxy. */
  @Test
  void dispatchAndCombineThroughTheHostStagingProxyAreBitExactWithTheCpuBackend(@TempDir Path store) throws Exception {
    List<String> logs = runRanks("exact-staged", store, 5_000);
    for (int rank = 0; rank < 2; rank++) {
      assertThat(logs.get(rank)).contains("reaches rank " + (1 - rank) + " through the host staging proxy")
          .contains("PASS rank " + rank + " small").contains("PASS rank " + rank + " h7168").contains("DONE rank " + rank);
    }
  }

  @Test
  void killedStagedPeerIsMaskedWithinTheTimeoutWithoutHangingTheSurvivor(@TempDir Path store) throws Exception {
    List<String> logs = runRanks("killed-staged", store, 1_500);
    assertThat(logs.get(1)).contains("HALT rank 1");
    assertThat(logs.get(0)).contains("reaches rank 1 through the host staging proxy").contains("rank 1 masked after")
        .contains("keeps serving").contains("DONE rank 0");
  }

  /** Starts both ranks and waits for them; returns each rank's output, failing with it when a rank fails. */
  private static List<String> runRanks(String scenario, Path store, long timeoutMillis) throws Exception {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<Process> processes = new ArrayList<>();
    List<Path> outputs = new ArrayList<>();
    for (int rank = 0; rank < 2; rank++) {
      List<String> command = new ArrayList<>(List.of(java));
      command.addAll(WorkerJvm.FLAGS);
      command.addAll(List.of("-cp", System.getProperty("java.class.path"),
          CudaRankProcess.class.getName(), scenario, String.valueOf(rank), store.toString(), String.valueOf(timeoutMillis)));
      Path output = store.resolve("rank" + rank + ".log");
      outputs.add(output);
      processes.add(new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start());
    }
    List<String> logs = new ArrayList<>();
    for (int rank = 0; rank < 2; rank++) {
      boolean finished = processes.get(rank).waitFor(RANK_DEADLINE_SECONDS, TimeUnit.SECONDS);
      if (!finished) {
        processes.forEach(Process::destroyForcibly);
      }
      String log = read(outputs.get(rank));
      System.out.println("---- " + scenario + " rank " + rank + " ----\n" + log);
      assertThat(finished).as("rank %d of %s finished within %d s; output:%n%s", rank, scenario, RANK_DEADLINE_SECONDS, log).isTrue();
      int expectedExit = scenario.startsWith("killed") && rank == 1 ? 137 : 0;
      assertThat(processes.get(rank).exitValue()).as("rank %d of %s exit code; output:%n%s", rank, scenario, log)
          .isEqualTo(expectedExit);
      logs.add(log);
    }
    return logs;
  }

  private static String read(Path output) throws IOException {
    return Files.exists(output) ? Files.readString(output) : "";
  }
}
