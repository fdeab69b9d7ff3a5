package io.elasticmoe.worker.cuda;

import io.elasticmoe.worker.runtime.Bf16;
import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.store.KeyValueStore;
import io.elasticmoe.worker.store.StoreTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.IntConsumer;
import jcuda.driver.CUevent;
import jcuda.driver.JCudaDriver;

/**
 * One rank of {@code bench dataplane-cuda}: LL dispatch (fp8) and combine (bf16) on device-resident inputs,
 * timed with CUDA events around each call (median over the iterations after warm-up), and the peer-write
 * ceiling for the same bytes this rank sends to its peers. Token counts above N = 1024 (the buffer's limit,
 * NUM_MAX_DISPATCH_TOKENS) run as back-to-back dispatch/combine pairs of equal chunks; their times add up.
 */
public final class CudaDataplaneBench {

  /** What one rank measured for one token count. */
  public record Result(
      int tokens, int chunks, double dispatchMicros, double combineMicros, long remoteBytes, double peerWriteMicros) {

    /** Peer-write ceiling time over dispatch time for the bytes this rank sends over NVLink. */
    public double ceilingFraction() {
      return peerWriteMicros / dispatchMicros;
    }
  }

  private final int rank;
  private final int numRanks;
  private final int numExperts;
  private final int hidden;
  private final int numTopk;
  private final int iterations;
  private final int warmup;
  private final KeyValueStore store;
  private final Duration timeout;

  public CudaDataplaneBench(
      int rank, int numRanks, int numExperts, int hidden, int numTopk, int iterations, int warmup,
      KeyValueStore store, Duration timeout) {
    if (numExperts % numRanks != 0) {
      throw new IllegalArgumentException(
          "experts is " + numExperts + "; it must be a multiple of the " + numRanks + " ranks");
    }
    this.rank = rank;
    this.numRanks = numRanks;
    this.numExperts = numExperts;
    this.hidden = hidden;
    this.numTopk = numTopk;
    this.iterations = iterations;
    this.warmup = warmup;
    this.store = store;
    this.timeout = timeout;
  }

  static int chunksFor(int tokens) {
    int chunks = (tokens + DispatchLayout.MAX_TOKENS_PER_RANK - 1) / DispatchLayout.MAX_TOKENS_PER_RANK;
    if (tokens < 1 || tokens % chunks != 0) {
      throw new IllegalArgumentException(
          "tokens is " + tokens + "; above " + DispatchLayout.MAX_TOKENS_PER_RANK
              + " (NUM_MAX_DISPATCH_TOKENS) it must split into equal chunks of at most that many");
    }
    return chunks;
  }

  public List<Result> run(int[] tokenCounts, IntConsumer progress) throws StoreTimeoutException {
    int maxChunk = Arrays.stream(tokenCounts).map(t -> t / chunksFor(t)).max().orElse(1);
    DispatchLayout layout = DispatchLayout.of(numRanks, numExperts / numRanks, maxChunk, hidden);
    int[] world = new int[numRanks];
    Arrays.setAll(world, i -> i);
    List<Result> results = new ArrayList<>();
    try (CudaDispatchBackend backend =
        new CudaDispatchBackend(layout, rank, rank, store, timeout, Duration.ofMinutes(2))) {
      backend.connect(1, world, world, true);
      backend.fillExpertOutputs(Bf16.fromFloat(0.5f));
      for (int tokens : tokenCounts) {
        results.add(measure(backend, tokens));
        progress.accept(tokens);
      }
    }
    return results;
  }

  private Result measure(CudaDispatchBackend backend, int tokens) throws StoreTimeoutException {
    int chunks = chunksFor(tokens);
    int chunk = tokens / chunks;
    Random random = new Random(1000L * rank + tokens);
    short[] x = new short[chunk * hidden];
    for (int i = 0; i < x.length; i++) {
      x[i] = Bf16.fromFloat((float) random.nextGaussian());
    }
    int[] topk = new int[chunk * numTopk];
    float[] weights = new float[chunk * numTopk];
    long remoteMessages = 0;
    int numLocalExperts = numExperts / numRanks;
    for (int t = 0; t < chunk; t++) {
      // Distinct experts per token, uniformly at random (DeepEP's test_low_latency routes by random scores).
      int[] experts = random.ints(0, numExperts).distinct().limit(numTopk).toArray();
      for (int k = 0; k < numTopk; k++) {
        topk[t * numTopk + k] = experts[k];
        weights[t * numTopk + k] = random.nextFloat();
        remoteMessages += experts[k] / numLocalExperts == rank ? 0 : 1;
      }
    }
    backend.uploadDispatchInputs(x, topk);
    backend.uploadTopkWeights(weights);
    backend.fillExpertOutputs(Bf16.fromFloat(0.5f));
    DispatchLayout layout = backend.layout();
    long messageBytes = DispatchLayout.DISPATCH_HEADER_BYTES + hidden + 4L * layout.numScales();

    for (int i = 0; i < warmup; i++) {
      for (int c = 0; c < chunks; c++) {
        backend.launchDispatch(chunk, numTopk, numExperts, true, false);
        backend.launchCombine(chunk, numTopk, numRanks);
      }
    }
    backend.synchronize();
    barrier(backend, "lat/" + tokens);
    int points = iterations * chunks;
    CUevent[] before = events(points);
    CUevent[] middle = events(points);
    CUevent[] after = events(points);
    for (int i = 0; i < points; i++) {
      JCudaDriver.cuEventRecord(before[i], backend.stream());
      backend.launchDispatch(chunk, numTopk, numExperts, true, false);
      JCudaDriver.cuEventRecord(middle[i], backend.stream());
      backend.launchCombine(chunk, numTopk, numRanks);
      JCudaDriver.cuEventRecord(after[i], backend.stream());
    }
    backend.synchronize();
    backend.pollTimeouts();
    if (!backend.takePeerTimeouts().isEmpty()) {
      throw new IllegalStateException("rank " + rank + ": a peer timed out during the timed loop; the numbers are void");
    }
    double[] dispatch = new double[iterations];
    double[] combine = new double[iterations];
    for (int i = 0; i < points; i++) {
      dispatch[i / chunks] += elapsedMicros(before[i], middle[i]);
      combine[i / chunks] += elapsedMicros(middle[i], after[i]);
    }
    destroy(before, middle, after);

    // Peer-write ceiling: the same bytes this rank sent to peers, stored into peer 'next' recv region.
    long remoteBytes = remoteMessages * messageBytes * chunks;
    int peer = (rank + 1) % numRanks;
    barrier(backend, "ceiling/" + tokens);
    double[] ceiling = new double[iterations];
    CUevent start = events(1)[0];
    CUevent end = events(1)[0];
    long bytes = Math.min(remoteBytes - remoteBytes % 16, layout.recvRegionBytes());
    for (int i = 0; i < warmup + iterations; i++) {
      JCudaDriver.cuEventRecord(start, backend.stream());
      backend.kernels().peerWriteCeiling(
          backend.peerAddress(peer) + layout.recvOffset(1), backend.bufferAddress() + layout.recvOffset(0), bytes,
          backend.stream());
      JCudaDriver.cuEventRecord(end, backend.stream());
      backend.synchronize();
      if (i >= warmup) {
        ceiling[i - warmup] = elapsedMicros(start, end);
      }
    }
    destroy(new CUevent[] {start, end});
    // The peer may still write our recv region: nobody starts the next size before both are done.
    barrier(backend, "ceiling-done/" + tokens);
    return new Result(tokens, chunks, median(dispatch), median(combine), remoteBytes, median(ceiling));
  }

  private void barrier(CudaDispatchBackend backend, String name) throws StoreTimeoutException {
    String counter = "bench/barrier/" + name;
    if (store.add(counter, 1) == numRanks) {
      store.set(counter + "/done", new byte[0]);
    }
    store.get(counter + "/done", Duration.ofMinutes(2));
  }

  private static CUevent[] events(int count) {
    CUevent[] events = new CUevent[count];
    for (int i = 0; i < count; i++) {
      events[i] = new CUevent();
      CudaException.check(JCudaDriver.cuEventCreate(events[i], 0), "cuEventCreate");
    }
    return events;
  }

  private static void destroy(CUevent[]... groups) {
    for (CUevent[] group : groups) {
      for (CUevent event : group) {
        JCudaDriver.cuEventDestroy(event);
      }
    }
  }

  private static double elapsedMicros(CUevent start, CUevent end) {
    float[] millis = new float[1];
    CudaException.check(JCudaDriver.cuEventElapsedTime(millis, start, end), "cuEventElapsedTime");
    return millis[0] * 1000.0;
  }

  static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int mid = sorted.length / 2;
    return sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }
}
