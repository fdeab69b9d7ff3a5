package io.elasticmoe.worker.runtime;

/**
 * Output of one dispatch: the received {@code rows} of every local expert (packed by source rank, see
 * {@link ReceivedRows}; fp8 codes with {@code H/128} scales per row when the dispatch was fp8, else bf16),
 * {@code recvCount[E_l]} and the handle combine needs. The rows may be views into the backend's receive
 * buffer, valid until the rank's next dispatch or combine call.
 */
public record DispatchResult(ReceivedRows rows, int[] recvCount, DispatchHandle handle) {

  /** Rows held in packed arrays {@code [E_l, R_b·N, H]}: fp8 codes plus scales, or bf16 (the other null). */
  public DispatchResult(
      byte[] recvFp8, float[] recvScales, short[] recvBf16, int[] recvCount, DispatchHandle handle) {
    this(new ReceivedArrays(recvFp8, recvScales, recvBf16, handle.hidden()), recvCount, handle);
  }

  public boolean isFp8() {
    return rows.isFp8();
  }

  /** {@link ReceivedRows#packedFp8}: the arrays themselves or a copy of views; for comparisons and tests. */
  public byte[] recvFp8() {
    return rows.packedFp8();
  }

  /** {@link ReceivedRows#packedScales}. */
  public float[] recvScales() {
    return rows.packedScales();
  }

  /** {@link ReceivedRows#packedBf16}. */
  public short[] recvBf16() {
    return rows.packedBf16();
  }
}
