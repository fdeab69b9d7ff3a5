package io.elasticmoe.worker.cuda;

import io.elasticmoe.worker.runtime.DispatchLayout;

/**
 * The dispatch count a CUDA sender publishes per (local expert, source) once its rows are stored, as
 * {@code kernels/dispatch_ll.cu} writes it: {@code count+1} in bits 0..31 (never zero, so zero means "not yet"),
 * and, when the rows were stored in place in the owner's packed outputs, {@link DispatchLayout#DISPATCH_IN_PLACE}
 * with the first packed row in bits 32..60. Staged owners only ever get plain {@code count+1}, but the host
 * staging proxy reads every word through {@link #rows} so an in-place word could never pass as a row count.
 */
final class DispatchCountWord {

  private static final long COUNT_MASK = 0xffff_ffffL;
  private static final int ROW_SHIFT = 32;
  private static final long ROW_MASK = (DispatchLayout.DISPATCH_IN_PLACE - 1) >>> ROW_SHIFT;

  private DispatchCountWord() {}

  /** Rows in the owner's receive slots. */
  static long inSlots(int count) {
    return checkCount(count) + 1L;
  }

  /** Rows stored in place from packed row {@code firstRow} of the owner's expert. */
  static long inPlace(int count, int firstRow) {
    if (firstRow < 0 || firstRow > ROW_MASK) {
      throw new IllegalArgumentException("first packed row is " + firstRow + "; it must be in 0.." + ROW_MASK);
    }
    return inSlots(count) | (long) firstRow << ROW_SHIFT | DispatchLayout.DISPATCH_IN_PLACE;
  }

  /** The row count of a published (non-zero) word. */
  static int rows(long word) {
    return (int) ((word & COUNT_MASK) - 1);
  }

  static boolean isInPlace(long word) {
    return (word & DispatchLayout.DISPATCH_IN_PLACE) != 0;
  }

  static int firstRow(long word) {
    return (int) ((word >>> ROW_SHIFT) & ROW_MASK);
  }

  private static int checkCount(int count) {
    if (count < 0 || count > DispatchLayout.MAX_TOKENS_PER_RANK) {
      throw new IllegalArgumentException(
          "count is " + count + "; it must be in 0.." + DispatchLayout.MAX_TOKENS_PER_RANK + " (MAX_TOKENS_PER_RANK)");
    }
    return count;
  }
}
