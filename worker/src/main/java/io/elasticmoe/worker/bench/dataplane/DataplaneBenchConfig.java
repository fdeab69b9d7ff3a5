package io.elasticmoe.worker.bench.dataplane;

/**
 * The benchmark's shape; passed to every rank process as plain arguments. {@code computeThreads} is each
 * rank's compute pool size, 0 for the backend's default; {@code loopbackWarmupMillis} how long each rank warms
 * up alone ({@link io.elasticmoe.worker.cpu.LoopbackWarmup}) before it connects, as {@code run} does (0 = not).
 */
public record DataplaneBenchConfig(
    int ranks, int tokens, int hidden, int topk, int expertsPerRank, boolean fp8, int warmup, int iterations,
    String transports, int computeThreads, int loopbackWarmupMillis) {

  /** NIXL-EP's accounting: an fp8 dispatch message is the row, its scales and a 16-byte header. */
  public long dispatchBytesPerSelection() {
    return fp8 ? 16L + hidden + 4L * (hidden / 128) : 16L + 2L * hidden;
  }

  /** NIXL-EP's accounting: a combine message is the bf16 row. */
  public long combineBytesPerSelection() {
    return 2L * hidden;
  }

  String[] toArgs() {
    return new String[] {
      Integer.toString(ranks), Integer.toString(tokens), Integer.toString(hidden), Integer.toString(topk),
      Integer.toString(expertsPerRank), Boolean.toString(fp8), Integer.toString(warmup),
      Integer.toString(iterations), transports, Integer.toString(computeThreads),
      Integer.toString(loopbackWarmupMillis)
    };
  }

  static DataplaneBenchConfig fromArgs(String[] args, int offset) {
    return new DataplaneBenchConfig(
        Integer.parseInt(args[offset]), Integer.parseInt(args[offset + 1]), Integer.parseInt(args[offset + 2]),
        Integer.parseInt(args[offset + 3]), Integer.parseInt(args[offset + 4]),
        Boolean.parseBoolean(args[offset + 5]), Integer.parseInt(args[offset + 6]),
        Integer.parseInt(args[offset + 7]), args[offset + 8], Integer.parseInt(args[offset + 9]),
        Integer.parseInt(args[offset + 10]));
  }
}
