package io.elasticmoe.worker.runtime;

/**
 * Output of one dispatch. Rows of local expert {@code e_l} are packed by source rank: {@code recvX} is
 * {@code [E_l, R_b·N, H]}, fp8 codes plus {@code recvScales [E_l, R_b·N, H/128]} when the dispatch was
 * fp8 (then {@code recvBf16} is null), else bf16 ({@code recvFp8} and {@code recvScales} null).
 */
public record DispatchResult(
    byte[] recvFp8, float[] recvScales, short[] recvBf16, int[] recvCount, DispatchHandle handle) {

  public boolean isFp8() {
    return recvFp8 != null;
  }
}
