package io.elasticmoe.worker.bench.dataplane;

import io.elasticmoe.worker.cpu.CombineReducer;
import io.elasticmoe.worker.runtime.Bf16;
import io.elasticmoe.worker.runtime.Fp8Codec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Per-token costs of the CPU backend's compute, each next to its baselines: the fp8 cast against
 * copying the bf16 row as-is (what bf16 dispatch does), the uncast, and the top-k combine reduction
 * against copying one row; and each against its loop from before the Vector API ({@link BeforeVectorApi}),
 * in the same run. One op = one token.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(Scope.Thread)
public class DataplaneKernelsBenchmark {

  @Param("7168")
  public int hidden;

  @Param("8")
  public int topk;

  private short[] token;
  private byte[] codes;
  private float[] scales;
  private float[] values;
  private ShortBuffer buffer;
  private int[] rowStarts;
  private int[] rowOffsets;
  private float[] weights;
  private short[] out;
  private CombineReducer reducer;
  private Fp8Codec.RowCaster caster;
  private BeforeVectorApi.Reducer baselineReducer;
  private BeforeVectorApi.Caster baselineCaster;

  @Setup
  public void setUp() {
    Random random = new Random(7);
    token = new short[hidden];
    for (int c = 0; c < hidden; c++) {
      token[c] = Bf16.fromFloat((float) random.nextGaussian());
    }
    codes = new byte[hidden];
    scales = new float[hidden / 128];
    values = new float[hidden];
    ByteBuffer bytes = ByteBuffer.allocateDirect(2 * hidden * (topk + 1)).order(ByteOrder.LITTLE_ENDIAN);
    buffer = bytes.asShortBuffer();
    rowStarts = new int[topk];
    rowOffsets = new int[topk];
    weights = new float[topk];
    for (int k = 0; k < topk; k++) {
      rowStarts[k] = (k + 1) * hidden;
      rowOffsets[k] = 2 * rowStarts[k];
      buffer.put(rowStarts[k], token);
      weights[k] = random.nextFloat();
    }
    out = new short[hidden];
    reducer = new CombineReducer(hidden, bytes);
    caster = new Fp8Codec.RowCaster(hidden);
    baselineReducer = new BeforeVectorApi.Reducer(hidden, bytes);
    baselineCaster = new BeforeVectorApi.Caster(hidden);
  }

  @Benchmark
  public ShortBuffer bf16RowCopyBaseline() {
    return buffer.put(0, token);
  }

  /** The scalar definition, element by element: what the backend cast with before {@link Fp8Codec.RowCaster}. */
  @Benchmark
  public byte[] fp8CastScalar() {
    Fp8Codec.castRow(token, 0, hidden, false, codes, 0, scales, 0);
    return codes;
  }

  @Benchmark
  public byte[] fp8Cast() {
    caster.castRow(token, 0, false, codes, 0, scales, 0);
    return codes;
  }

  /** The cast before the Vector API: C2-auto-vectorised loops through scratch copies. */
  @Benchmark
  public byte[] fp8CastBeforeVectorApi() {
    baselineCaster.castRow(token, 0, false, codes, 0, scales, 0);
    return codes;
  }

  @Benchmark
  public byte[] fp8CastRoundScale() {
    caster.castRow(token, 0, true, codes, 0, scales, 0);
    return codes;
  }

  @Benchmark
  public float[] fp8Uncast() {
    Fp8Codec.uncastRow(codes, 0, scales, 0, hidden, values, 0);
    return values;
  }

  /** The uncast before the Vector API: a table lookup per channel. */
  @Benchmark
  public float[] fp8UncastBeforeVectorApi() {
    BeforeVectorApi.uncastRow(codes, 0, scales, 0, hidden, values, 0);
    return values;
  }

  @Benchmark
  public short[] oneRowReadBaseline() {
    buffer.get(rowStarts[0], out, 0, hidden);
    return out;
  }

  @Benchmark
  public short[] combineReduce() {
    reducer.reduceToken(rowOffsets, weights, topk, out, 0);
    return out;
  }

  /** The reduction before the Vector API: C2-auto-vectorised loops through scratch copies. */
  @Benchmark
  public short[] combineReduceBeforeVectorApi() {
    baselineReducer.reduceToken(rowOffsets, weights, topk, out, 0);
    return out;
  }
}
