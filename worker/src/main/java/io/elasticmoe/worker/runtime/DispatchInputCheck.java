package io.elasticmoe.worker.runtime;

/**
 * The preconditions of dispatch and combine, checked in Java before any byte moves: one check per
 * precondition in argument order (as {@code Buffer::low_latency_dispatch} in DeepEP's deep_ep.cpp), each
 * failing with an {@link IllegalArgumentException} that names the value and the limit.
 */
public final class DispatchInputCheck {

  private DispatchInputCheck() {}

  /** A rank argument of connect, disconnect or a mask update: inside the layout's capacity. */
  public static void rank(DispatchLayout layout, String what, int value) {
    if (value < 0 || value >= layout.maxRanks()) {
      throw new IllegalArgumentException(
          what + " contains " + value + "; ranks must be in 0.." + (layout.maxRanks() - 1) + " (maxRanks)");
    }
  }

  public static void dispatch(
      DispatchLayout layout, short[] x, int numTokens, int[] topkIdx, int numTopk, int numExperts,
      boolean useFp8, boolean roundScale) {
    int hidden = layout.hidden();
    if (x == null) {
      throw new IllegalArgumentException("x is null; expected bf16 [numTokens, " + hidden + "]");
    }
    if (numTokens < 0 || numTokens > layout.maxTokensPerRank()) {
      throw new IllegalArgumentException(
          "numTokens is " + numTokens + "; the buffer holds at most " + layout.maxTokensPerRank()
              + " tokens per rank (maxTokensPerRank, at most " + DispatchLayout.MAX_TOKENS_PER_RANK + ")");
    }
    if ((long) x.length != (long) numTokens * hidden) {
      throw new IllegalArgumentException(
          "x has " + x.length + " elements; expected numTokens·hidden = " + numTokens + "·" + hidden);
    }
    if (numTopk < 1 || numTopk > DispatchLayout.MAX_TOPK) {
      throw new IllegalArgumentException(
          "numTopk is " + numTopk + "; it must be in 1.." + DispatchLayout.MAX_TOPK + " (MAX_TOPK)");
    }
    if (topkIdx == null || (long) topkIdx.length != (long) numTokens * numTopk) {
      throw new IllegalArgumentException(
          "topkIdx has " + (topkIdx == null ? "no" : topkIdx.length) + " elements; expected numTokens·numTopk = "
              + numTokens + "·" + numTopk);
    }
    int numLocalExperts = layout.numLocalExperts();
    if (numExperts < numLocalExperts || numExperts % numLocalExperts != 0) {
      throw new IllegalArgumentException(
          "numExperts is " + numExperts + "; it must be a positive multiple of the " + numLocalExperts
              + " local experts per rank");
    }
    int numRanks = numExperts / numLocalExperts;
    if (numRanks > layout.maxRanks()) {
      throw new IllegalArgumentException(
          "numExperts is " + numExperts + ", which needs R_b = " + numRanks + " ranks; the buffer has room for "
              + layout.maxRanks() + " (maxRanks)");
    }
    if ((long) numRanks * layout.maxTokensPerRank() % DispatchLayout.RECV_ROWS_ALIGNMENT != 0) {
      throw new IllegalArgumentException(
          "R_b·N is " + numRanks + "·" + layout.maxTokensPerRank() + "; it must be a multiple of "
              + DispatchLayout.RECV_ROWS_ALIGNMENT + " (RECV_ROWS_ALIGNMENT)");
    }
    for (int i = 0; i < topkIdx.length; i++) {
      if (topkIdx[i] < -1 || topkIdx[i] >= numExperts) {
        throw new IllegalArgumentException(
            "topkIdx[" + i / numTopk + "," + i % numTopk + "] is " + topkIdx[i] + "; it must be −1 or in 0.."
                + (numExperts - 1) + " (numExperts)");
      }
    }
    if (useFp8 && hidden % DispatchLayout.FP8_HIDDEN_ALIGNMENT != 0) {
      throw new IllegalArgumentException(
          "hidden is " + hidden + "; fp8 dispatch needs a multiple of " + DispatchLayout.FP8_HIDDEN_ALIGNMENT
              + " (FP8_HIDDEN_ALIGNMENT)");
    }
    if (roundScale && !useFp8) {
      throw new IllegalArgumentException("roundScale is true but useFp8 is false; roundScale applies to fp8 only");
    }
  }

  public static void combine(
      DispatchLayout layout, short[] y, int[] topkIdx, float[] topkWeights, DispatchHandle handle) {
    if (handle == null) {
      throw new IllegalArgumentException("handle is null; pass the handle of the dispatch being answered");
    }
    long expected = (long) layout.numLocalExperts() * handle.rowsPerExpert() * layout.hidden();
    if (y == null || y.length != expected) {
      throw new IllegalArgumentException(
          "y has " + (y == null ? "no" : y.length) + " elements; expected [E_l, R_b·N, H] = ["
              + layout.numLocalExperts() + ", " + handle.numRanks() + "·" + handle.maxTokensPerRank() + ", "
              + layout.hidden() + "] from the handle's R_b = " + handle.numRanks());
    }
    if (handle.hidden() != layout.hidden() || handle.maxTokensPerRank() != layout.maxTokensPerRank()) {
      throw new IllegalArgumentException(
          "handle was made for hidden " + handle.hidden() + " and N " + handle.maxTokensPerRank()
              + "; this buffer has hidden " + layout.hidden() + " and N " + layout.maxTokensPerRank());
    }
    if (topkIdx == null || topkIdx.length % Math.max(handle.numTokens(), 1) != 0
        || (handle.numTokens() == 0 && topkIdx.length != 0)) {
      throw new IllegalArgumentException(
          "topkIdx has " + (topkIdx == null ? "no" : topkIdx.length) + " elements; expected numTokens·numTopk with "
              + "numTokens = " + handle.numTokens() + " from the handle");
    }
    int numTopk = handle.numTokens() == 0 ? 0 : topkIdx.length / handle.numTokens();
    if (numTopk > DispatchLayout.MAX_TOPK) {
      throw new IllegalArgumentException(
          "numTopk is " + numTopk + "; it must be at most " + DispatchLayout.MAX_TOPK + " (MAX_TOPK)");
    }
    int numExperts = handle.numRanks() * layout.numLocalExperts();
    for (int i = 0; i < topkIdx.length; i++) {
      if (topkIdx[i] < -1 || topkIdx[i] >= numExperts) {
        throw new IllegalArgumentException(
            "topkIdx[" + i / numTopk + "," + i % numTopk + "] is " + topkIdx[i] + "; it must be −1 or in 0.."
                + (numExperts - 1) + " (numExperts of the dispatch)");
      }
    }
    if (topkWeights == null || topkWeights.length != topkIdx.length) {
      throw new IllegalArgumentException(
          "topkWeights has " + (topkWeights == null ? "no" : topkWeights.length) + " elements; expected "
              + topkIdx.length + " (same shape as topkIdx)");
    }
  }
}
