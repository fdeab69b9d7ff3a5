package io.elasticmoe.worker.runtime;

/**
 * What combine needs from the dispatch it answers: per local expert and source rank, where the received
 * rows sit ({@code layoutRange[e_l·R_b + src] = count | begin<<32}) and which source token each row is
 * ({@code srcInfo[e_l·R_b·N + row]}).
 */
public record DispatchHandle(
    int numRanks, int maxTokensPerRank, int hidden, int numTokens, int[] srcInfo, long[] layoutRange) {

  public int count(int localExpert, int srcRank) {
    return (int) layoutRange[localExpert * numRanks + srcRank];
  }

  public int begin(int localExpert, int srcRank) {
    return (int) (layoutRange[localExpert * numRanks + srcRank] >>> 32);
  }

  /** R_b·N: rows per local expert in the received tensors. */
  public int rowsPerExpert() {
    return numRanks * maxTokensPerRank;
  }
}
