package io.elasticmoe.worker.cpu;

import io.elasticmoe.worker.runtime.Bf16;
import java.nio.ShortBuffer;
import java.util.Arrays;

/**
 * The combine reduction for one token: {@code out = bf16(Σ_i w_i · row_i)} in fp32, rows read in
 * selection order from the receive buffer (so the sum order, and the result, are those of the CUDA
 * kernel that adds the top-k terms in k order).
 */
public final class CombineReducer {

  private final int hidden;
  private final float[] accumulator;
  private final short[] row;

  public CombineReducer(int hidden) {
    this.hidden = hidden;
    this.accumulator = new float[hidden];
    this.row = new short[hidden];
  }

  /** Rows start at short indexes {@code rowStarts[0..numRows)} of {@code buffer}; writes {@code out[outOffset..+hidden)}. */
  public void reduceToken(
      ShortBuffer buffer, int[] rowStarts, float[] weights, int numRows, short[] out, int outOffset) {
    Arrays.fill(accumulator, 0f);
    for (int i = 0; i < numRows; i++) {
      buffer.get(rowStarts[i], row, 0, hidden);
      float weight = weights[i];
      for (int c = 0; c < hidden; c++) {
        accumulator[c] += weight * Bf16.toFloat(row[c]);
      }
    }
    for (int c = 0; c < hidden; c++) {
      out[outOffset + c] = Bf16.fromFloat(accumulator[c]);
    }
  }
}
