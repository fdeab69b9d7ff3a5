package io.elasticmoe.worker.cuda;

import io.elasticmoe.worker.cpu.CpuDispatchBackend;
import io.elasticmoe.worker.runtime.Bf16;
import io.elasticmoe.worker.runtime.DispatchBackend;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.DispatchResult;
import io.elasticmoe.worker.runtime.PeerTimeoutException;
import io.elasticmoe.worker.store.DirectoryKeyValueStore;
import io.elasticmoe.worker.store.KeyValueStore;
import io.elasticmoe.worker.transport.UcxTransport;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * One rank of {@link CudaDispatchBackendGpuTest}, in its own JVM (CUDA IPC maps only another process's
 * memory), on GPU {@code rank}. Prints one {@code PASS ...} line per check and exits 0, or throws (exit 1).
 *
 * <p>Scenarios: {@code exact} (and {@code small}, its first half, for compute-sanitizer) runs the same inputs through the CUDA and the CPU backend and requires every
 * dispatch output and the combine output to be bit-identical; {@code killed} has rank 1 halt after one good
 * step and rank 0 mask it within the timeout, report it, and keep serving. A {@code -staged} suffix runs the
 * scenario with {@link CudaDispatchBackend.PeerStaging#ALL_PEERS}: the peer is reached through the host staging
 * proxy (pinned host mirrors, UCX puts over tcp on loopback), as a rank on another node would be.
 */
public final class CudaRankProcess {

  private static final Duration STORE_TIMEOUT = Duration.ofSeconds(120);

  /** UCX_TLS of the staged scenarios: tcp as between nodes; EMOE_STAGED_TLS overrides it on a host without tcp. */
  private static final String STAGED_TRANSPORTS =
      System.getenv().getOrDefault("EMOE_STAGED_TLS", UcxTransport.NETWORK_TRANSPORTS);

  public static void main(String[] args) throws Exception {
    String scenario = args[0];
    int rank = Integer.parseInt(args[1]);
    Path storeDir = Path.of(args[2]);
    Duration timeout = Duration.ofMillis(Long.parseLong(args[3]));
    boolean staged = scenario.endsWith("-staged");
    switch (scenario.replaceFirst("-staged$", "")) {
      case "exact" -> {
        exact(rank, storeDir, timeout, DispatchLayout.of(2, 4, 64, 512), 4, "small", staged);
        exact(rank, storeDir, timeout, DispatchLayout.of(2, 16, 128, 7168), 8, "h7168", staged);
      }
      case "small" -> exact(rank, storeDir, timeout, DispatchLayout.of(2, 4, 64, 512), 4, "small", staged);
      case "killed" -> killed(rank, storeDir, timeout, staged);
      default -> throw new IllegalArgumentException(
          "scenario is " + scenario + "; expected exact, small or killed, each optionally with -staged");
    }
    System.out.println("DONE rank " + rank);
    System.exit(0);
  }

  private static CudaDispatchBackend gpu(DispatchLayout layout, int rank, KeyValueStore store, Duration timeout,
      boolean staged) {
    return staged
        ? new CudaDispatchBackend(layout, rank, rank, store, timeout, STORE_TIMEOUT,
            CudaDispatchBackend.PeerStaging.ALL_PEERS, STAGED_TRANSPORTS)
        : new CudaDispatchBackend(layout, rank, rank, store, timeout, STORE_TIMEOUT);
  }

  /** The path the peer (the other of ranks 0 and 1) was connected through must be the one the scenario names. */
  private static void requirePath(CudaDispatchBackend gpu, int rank, boolean staged) {
    int peer = 1 - rank;
    require(gpu.isStaged(peer) == staged, "rank %d: peer %d is %s, expected %s", rank, peer,
        gpu.isStaged(peer) ? "staged" : "mapped through CUDA IPC", staged ? "staged" : "mapped through CUDA IPC");
    System.out.println("rank " + rank + " reaches rank " + peer + (staged ? " through the host staging proxy" : " through CUDA IPC"));
  }

  private static void exact(int rank, Path storeDir, Duration timeout, DispatchLayout layout, int numTopk, String name,
      boolean staged) throws Exception {
    int numExperts = layout.numExperts();
    int[] world = {0, 1};
    try (KeyValueStore gpuStore = new DirectoryKeyValueStore(Files.createDirectories(storeDir.resolve("gpu-" + name)));
        KeyValueStore cpuStore = new DirectoryKeyValueStore(Files.createDirectories(storeDir.resolve("cpu-" + name)));
        CudaDispatchBackend gpu = gpu(layout, rank, gpuStore, timeout, staged);
        CpuDispatchBackend cpu =
            new CpuDispatchBackend(layout, rank, cpuStore, timeout, STORE_TIMEOUT, UcxTransport.HOST_TRANSPORTS)) {
      gpu.connect(1, world, world, true);
      cpu.connect(1, world, world, true);
      requirePath(gpu, rank, staged);
      System.out.println("kernels loaded from " + gpu.kernels().loadedFrom() + " on " + gpu.kernels().multiprocessors() + " SMs");
      List<String> failures = new ArrayList<>();
      for (GpuCase c : GpuCase.all(11, layout.maxTokensPerRank(), layout.hidden(), numTopk, numExperts)) {
        try {
          exactCase(rank, name, cpu, gpu, c, numTopk, numExperts);
        } catch (AssertionError e) {
          failures.add(e.getMessage());
          System.out.println("FAIL rank " + rank + " " + e.getMessage());
        }
      }
      require(failures.isEmpty(), "rank %d %s: %d case(s) failed: %s", rank, name, failures.size(), failures);
    }
  }

  /**
   * Both backends run dispatch and combine before any check, so a failed check never desynchronises the ranks. The
   * checks run after both combines, when the CPU backend's result rows are no longer valid (the peer may be in its
   * next dispatch already): they are copied right after the CPU dispatch.
   */
  private static void exactCase(int rank, String name, CpuDispatchBackend cpu, CudaDispatchBackend gpu, GpuCase c,
      int numTopk, int numExperts) {
    short[] x = c.x(rank);
    int[] topk = c.topkIdx(rank);
    DispatchResult expected =
        GpuCase.inArrays(cpu.dispatch(x, c.numTokens(), topk, numTopk, numExperts, c.useFp8(), c.roundScale()));
    DispatchResult got = gpu.dispatch(x, c.numTokens(), topk, numTopk, numExperts, c.useFp8(), c.roundScale());
    short[] y = c.expertOutput(expected);
    float[] weights = c.topkWeights(rank);
    short[] cpuOut = cpu.combine(y, topk, weights, expected.handle());
    short[] gpuOut = gpu.combine(y, topk, weights, got.handle());
    requireSame(expected, got, name + " " + c);
    int mismatches = 0;
    float maxDiff = 0;
    for (int i = 0; i < cpuOut.length; i++) {
      if (cpuOut[i] != gpuOut[i]) {
        mismatches++;
        maxDiff = Math.max(maxDiff, Math.abs(Bf16.toFloat(cpuOut[i]) - Bf16.toFloat(gpuOut[i])));
      }
    }
    require(mismatches == 0, "%s %s: combine differs from the CPU backend in %d of %d values (max |diff| %s)",
        name, c, mismatches, cpuOut.length, maxDiff);
    require(gpu.takePeerTimeouts().isEmpty() && cpu.takePeerTimeouts().isEmpty(), "%s %s: unexpected timeouts", name, c);
    System.out.printf("PASS rank %d %s %s: dispatch (recv_x, scales, count, src_info, layout_range) and combine "
        + "bit-exact with the CPU backend, recv rows %d%n", rank, name, c, Arrays.stream(got.recvCount()).sum());
  }

  /**
   * Compares what dispatch defines: counts, layout_range, and per local expert the first recv_count rows of
   * src_info, recv_x and scales. Rows past recv_count are undefined (the CPU backend reuses its tensors, as
   * NIXL-EP does) and are not compared.
   */
  private static void requireSame(DispatchResult expected, DispatchResult got, String what) {
    require(Arrays.equals(expected.recvCount(), got.recvCount()), "%s: recv_count %s vs CPU %s", what,
        Arrays.toString(got.recvCount()), Arrays.toString(expected.recvCount()));
    require(Arrays.equals(expected.handle().layoutRange(), got.handle().layoutRange()), "%s: layout_range differs", what);
    int rowsPerExpert = expected.handle().rowsPerExpert();
    int hidden = expected.handle().hidden();
    int scales = hidden / 128;
    for (int e = 0; e < expected.recvCount().length; e++) {
      int from = e * rowsPerExpert;
      int to = from + expected.recvCount()[e];
      require(Arrays.equals(expected.handle().srcInfo(), from, to, got.handle().srcInfo(), from, to),
          "%s: src_info of local expert %d differs", what, e);
      if (expected.isFp8()) {
        require(Arrays.equals(expected.recvFp8(), from * hidden, to * hidden, got.recvFp8(), from * hidden, to * hidden),
            "%s: recv_x fp8 of local expert %d differs at row byte %d", what, e,
            Arrays.mismatch(expected.recvFp8(), from * hidden, to * hidden, got.recvFp8(), from * hidden, to * hidden));
        require(Arrays.equals(expected.recvScales(), from * scales, to * scales, got.recvScales(), from * scales, to * scales),
            "%s: scales of local expert %d differ", what, e);
      } else {
        require(Arrays.equals(expected.recvBf16(), from * hidden, to * hidden, got.recvBf16(), from * hidden, to * hidden),
            "%s: recv_x bf16 of local expert %d differs", what, e);
      }
    }
  }

  private static void killed(int rank, Path storeDir, Duration timeout, boolean staged) throws Exception {
    DispatchLayout layout = DispatchLayout.of(2, 4, 64, 512);
    int[] world = {0, 1};
    GpuCase c = new GpuCase(5, true, true, false, 64, 512, 4, layout.numExperts());
    try (KeyValueStore store = new DirectoryKeyValueStore(Files.createDirectories(storeDir.resolve("killed")));
        CudaDispatchBackend gpu = gpu(layout, rank, store, timeout, staged)) {
      store.set("pid/" + rank, ByteBuffer.allocate(8).putLong(ProcessHandle.current().pid()).array());
      gpu.connect(1, world, world, true);
      requirePath(gpu, rank, staged);
      DispatchResult first = dispatchCase(gpu, c, rank);
      gpu.combine(c.expertOutput(first), c.topkIdx(rank), c.topkWeights(rank), first.handle());
      require(gpu.takePeerTimeouts().isEmpty(), "rank %d: timeouts in the healthy step", rank);
      System.out.println("PASS rank " + rank + " killed: healthy step before the kill");
      if (rank == 1) {
        System.out.println("HALT rank 1");
        System.out.flush();
        Runtime.getRuntime().halt(137);
      }
      long peerPid = ByteBuffer.wrap(store.get("pid/1", STORE_TIMEOUT)).getLong();
      ProcessHandle.of(peerPid).ifPresent(p -> p.onExit().join());

      long start = System.nanoTime();
      DispatchResult masked = dispatchCase(gpu, c, rank);
      long dispatchMillis = (System.nanoTime() - start) / 1_000_000;
      List<PeerTimeoutException> timeouts = gpu.takePeerTimeouts();
      require(timeouts.size() == 1 && timeouts.get(0).rank() == 1, "rank 0: timeouts after the kill are %s", timeouts);
      require(gpu.queryMask()[1] == 1, "rank 0: rank 1 is not masked after its timeout: %s", Arrays.toString(gpu.queryMask()));
      require(dispatchMillis < timeout.toMillis() + 5_000, "rank 0: dispatch took %d ms with timeout %s", dispatchMillis, timeout);
      for (int e = 0; e < layout.numLocalExperts(); e++) {
        require(masked.handle().count(e, 1) == 0, "rank 0: expert %d still counts %d rows from the killed rank", e,
            masked.handle().count(e, 1));
      }
      System.out.println("PASS rank 0 killed: rank 1 masked after " + dispatchMillis + " ms (timeout " + timeout.toMillis()
          + " ms) and reported as " + timeouts.get(0).getMessage());

      start = System.nanoTime();
      short[] out = gpu.combine(c.expertOutput(masked), c.topkIdx(rank), c.topkWeights(rank), masked.handle());
      DispatchResult next = dispatchCase(gpu, c, rank);
      long servingMillis = (System.nanoTime() - start) / 1_000_000;
      require(servingMillis < timeout.toMillis(), "rank 0: combine+dispatch with rank 1 masked took %d ms", servingMillis);
      require(Objects.requireNonNull(out).length == c.numTokens() * c.hidden(), "rank 0: combine output size %d", out.length);
      require(Arrays.stream(next.recvCount()).sum() > 0, "rank 0: no rows from itself after the kill");
      System.out.println("PASS rank 0 killed: keeps serving with rank 1 masked (" + servingMillis + " ms for combine+dispatch)");
    }
  }

  private static DispatchResult dispatchCase(DispatchBackend backend, GpuCase c, int rank) {
    return backend.dispatch(c.x(rank), c.numTokens(), c.topkIdx(rank), c.numTopk(), c.numExperts(), c.useFp8(),
        c.roundScale());
  }

  static void require(boolean condition, String format, Object... args) {
    if (!condition) {
      throw new AssertionError(String.format(format, args));
    }
  }
}
