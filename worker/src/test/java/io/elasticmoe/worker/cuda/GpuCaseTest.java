package io.elasticmoe.worker.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.worker.runtime.DispatchHandle;
import io.elasticmoe.worker.runtime.DispatchResult;
import io.elasticmoe.worker.runtime.ReceivedArrays;
import io.elasticmoe.worker.runtime.ReceivedRows;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The GPU check's own plumbing, without a GPU. */
class GpuCaseTest {

  private static final int HIDDEN = 128;
  private static final DispatchHandle HANDLE = new DispatchHandle(1, 2, HIDDEN, 2, new int[] {0, 1}, new long[] {2});

  /**
   * The GPU test compares the CPU result after both combines, when a peer's next dispatch may already have
   * overwritten the CPU backend's receive buffer: its rows must be copied when dispatch returns (a check that
   * read the views late failed on the highest local experts, the last compared).
   */
  @Test
  void inArraysKeepsTheRowsOfAViewOnceItsBufferIsOverwritten() {
    byte[] codes = filled(new byte[2 * HIDDEN], (byte) 7);
    float[] scales = {0.25f, 0.5f};
    DispatchResult copied = GpuCase.inArrays(new DispatchResult(view(codes, scales, null), new int[] {2}, HANDLE));

    Arrays.fill(codes, (byte) 9);
    Arrays.fill(scales, 3f);

    assertThat(copied.recvFp8()).containsOnly((byte) 7).hasSize(2 * HIDDEN);
    assertThat(copied.recvScales()).containsExactly(0.25f, 0.5f);
    assertThat(copied.recvCount()).containsExactly(2);
    assertThat(copied.handle()).isSameAs(HANDLE);
  }

  @Test
  void inArraysCopiesBf16Rows() {
    short[] values = new short[2 * HIDDEN];
    Arrays.fill(values, (short) 0x3f80);
    DispatchResult copied = GpuCase.inArrays(new DispatchResult(view(null, null, values), new int[] {2}, HANDLE));

    Arrays.fill(values, (short) 0);

    assertThat(copied.isFp8()).isFalse();
    assertThat(copied.recvBf16()).containsOnly((short) 0x3f80);
  }

  /** Rows as the CPU backend hands them out: read from live storage, packed accessors copy. */
  private static ReceivedRows view(byte[] codes, float[] scales, short[] bf16) {
    return new ReceivedRows() {
      private ReceivedArrays now() {
        return new ReceivedArrays(codes, scales, bf16, HIDDEN);
      }

      @Override
      public boolean isFp8() {
        return codes != null;
      }

      @Override
      public void fp8Codes(int row, byte[] dst, int offset) {
        now().fp8Codes(row, dst, offset);
      }

      @Override
      public void scales(int row, float[] dst, int offset) {
        now().scales(row, dst, offset);
      }

      @Override
      public void bf16(int row, short[] dst, int offset) {
        now().bf16(row, dst, offset);
      }

      @Override
      public void toFloat(int row, float[] dst, int offset) {
        now().toFloat(row, dst, offset);
      }

      @Override
      public byte[] packedFp8() {
        return codes == null ? null : codes.clone();
      }

      @Override
      public float[] packedScales() {
        return scales == null ? null : scales.clone();
      }

      @Override
      public short[] packedBf16() {
        return bf16 == null ? null : bf16.clone();
      }
    };
  }

  private static byte[] filled(byte[] bytes, byte value) {
    Arrays.fill(bytes, value);
    return bytes;
  }
}
