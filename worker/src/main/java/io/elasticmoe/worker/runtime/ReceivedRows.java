package io.elasticmoe.worker.runtime;

/**
 * The token rows one dispatch received, addressed by packed row index: row {@code e_l·R_b·N + i} is the
 * i-th row of local expert {@code e_l} ({@code i < recvCount[e_l]}, packed by source rank). A backend may
 * hand out views into its receive buffer instead of copies (the CPU backend does, as NIXL-EP's recv
 * tensors are views): such rows stay valid only until the rank's next dispatch or combine call, after
 * which peers may overwrite them. Copy what must outlive that.
 */
public interface ReceivedRows {

  /** Whether the rows are fp8 codes with per-128-channel scales (else bf16). */
  boolean isFp8();

  /** An fp8 row's {@code H} codes into {@code dst[offset..+H)}. */
  void fp8Codes(int row, byte[] dst, int offset);

  /** An fp8 row's {@code H/128} dequantisation scales into {@code dst[offset..+H/128)}. */
  void scales(int row, float[] dst, int offset);

  /** A bf16 row's {@code H} values (bits) into {@code dst[offset..+H)}. */
  void bf16(int row, short[] dst, int offset);

  /** The row as fp32, what an expert computes on: {@code decode(code)·scale} for fp8, the bf16 value widened. */
  void toFloat(int row, float[] dst, int offset);

  /**
   * Every row packed as {@code [E_l, R_b·N, H]} fp8 codes (rows past a count zero or stale); null for bf16.
   * A backend holding arrays returns them as they are; a view makes a copy. For comparisons and tests, not
   * the per-step path.
   */
  byte[] packedFp8();

  /** The scales packed as {@code [E_l, R_b·N, H/128]}, as {@link #packedFp8}; null for bf16. */
  float[] packedScales();

  /** The bf16 rows packed as {@code [E_l, R_b·N, H]}, as {@link #packedFp8}; null for fp8. */
  short[] packedBf16();
}
