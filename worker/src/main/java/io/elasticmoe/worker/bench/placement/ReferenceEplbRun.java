package io.elasticmoe.worker.bench.placement;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs DeepSeek's reference {@code eplb.py} (supplied by the user; it is not part of this project)
 * under Python and PyTorch on the same workload as the Java benchmark, and reads back its timings
 * and result. An adapter: it only starts the process and parses its answer.
 */
final class ReferenceEplbRun {

  /**
   * The harness: loads eplb.py from a path, plans the workload {@code warmup + iterations} times,
   * and prints one JSON object with wall-clock and CPU times per call and the last result.
   */
  private static final String HARNESS =
      """
      import importlib.util, json, statistics, sys, time
      import torch
      spec = importlib.util.spec_from_file_location("reference_eplb", sys.argv[1])
      eplb = importlib.util.module_from_spec(spec)
      spec.loader.exec_module(eplb)
      case = json.load(open(sys.argv[2]))
      warmup, iterations = int(sys.argv[3]), int(sys.argv[4])
      weight = torch.tensor(case["weight"], dtype=torch.float64)
      args = (case["num_replicas"], case["num_groups"], case["num_nodes"], case["num_gpus"])
      for _ in range(warmup):
          eplb.rebalance_experts(weight, *args)
      times, cpu_times = [], []
      for i in range(iterations):
          start, cpu_start = time.perf_counter(), time.process_time()
          phy2log, log2phy, logcnt = eplb.rebalance_experts(weight, *args)
          times.append((time.perf_counter() - start) * 1e3)
          cpu_times.append((time.process_time() - cpu_start) * 1e3)
          print(f"reference iteration {i + 1}/{iterations}: {times[-1]:.1f} ms",
                file=sys.stderr, flush=True)
      print(json.dumps({"times_ms": times, "cpu_times_ms": cpu_times,
                        "torch": torch.__version__, "threads": torch.get_num_threads(),
                        "phy2log": phy2log.tolist(), "log2phy": log2phy.tolist(),
                        "logcnt": logcnt.tolist()}))
      """;

  /**
   * @param timesMillis wall-clock time per call
   * @param cpuTimesMillis CPU time of the Python process per call
   */
  record Result(
      List<Double> timesMillis,
      List<Double> cpuTimesMillis,
      String torchVersion,
      int threads,
      int[][] phy2log,
      int[][][] log2phy,
      int[][] logcnt) {}

  private ReferenceEplbRun() {}

  static Result run(
      String python, Path eplbPy, EplbWorkload workload, int warmup, int iterations, Path scratch)
      throws IOException, InterruptedException {
    if (!Files.isRegularFile(eplbPy)) {
      throw new IllegalArgumentException("--reference-eplb " + eplbPy + " is not a file");
    }
    ObjectMapper mapper = new ObjectMapper();
    Path harness = scratch.resolve("reference_eplb_timing.py");
    Path input = scratch.resolve("workload.json");
    Files.writeString(harness, HARNESS);
    mapper.writeValue(
        input.toFile(),
        Map.of(
            "weight", workload.load(),
            "num_replicas", workload.numReplicas(),
            "num_groups", workload.numGroups(),
            "num_nodes", workload.numNodes(),
            "num_gpus", workload.numGpus()));
    Process process =
        new ProcessBuilder(
                python,
                harness.toString(),
                eplbPy.toString(),
                input.toString(),
                Integer.toString(warmup),
                Integer.toString(iterations))
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
    byte[] stdout = process.getInputStream().readAllBytes();
    if (!process.waitFor(10, TimeUnit.MINUTES)) {
      process.destroyForcibly();
      throw new IOException("the reference run did not finish within 10 minutes");
    }
    if (process.exitValue() != 0) {
      throw new IOException(
          python
              + " "
              + harness
              + " exited with "
              + process.exitValue()
              + " (is PyTorch installed for it? Debian: apt-get install python3-torch)");
    }
    JsonNode answer = mapper.readTree(new String(stdout, StandardCharsets.UTF_8));
    return new Result(
        List.of(mapper.treeToValue(answer.get("times_ms"), Double[].class)),
        List.of(mapper.treeToValue(answer.get("cpu_times_ms"), Double[].class)),
        answer.get("torch").asText(),
        answer.get("threads").asInt(),
        mapper.treeToValue(answer.get("phy2log"), int[][].class),
        mapper.treeToValue(answer.get("log2phy"), int[][][].class),
        mapper.treeToValue(answer.get("logcnt"), int[][].class));
  }
}
