package io.elasticmoe.worker.runtime;

/**
 * Received rows held in packed arrays ({@code [E_l, R_b·N, H]}): what a backend returns when it copies
 * its results out of device memory. Either {@code fp8} with {@code scales}, or {@code bf16}.
 */
public record ReceivedArrays(byte[] fp8, float[] scales, short[] bf16, int hidden) implements ReceivedRows {

  public ReceivedArrays {
    if ((fp8 == null) == (bf16 == null) || (fp8 == null) != (scales == null)) {
      throw new IllegalArgumentException("received rows are either fp8 codes with scales or bf16 values");
    }
  }

  @Override
  public boolean isFp8() {
    return fp8 != null;
  }

  @Override
  public void fp8Codes(int row, byte[] dst, int offset) {
    System.arraycopy(requireFp8(), row * hidden, dst, offset, hidden);
  }

  @Override
  public void scales(int row, float[] dst, int offset) {
    int numScales = hidden / DispatchLayout.CHANNELS_PER_SCALE;
    requireFp8();
    System.arraycopy(scales, row * numScales, dst, offset, numScales);
  }

  @Override
  public void bf16(int row, short[] dst, int offset) {
    if (bf16 == null) {
      throw new IllegalStateException("the dispatch was fp8: read codes and scales");
    }
    System.arraycopy(bf16, row * hidden, dst, offset, hidden);
  }

  @Override
  public void toFloat(int row, float[] dst, int offset) {
    if (isFp8()) {
      int numScales = hidden / DispatchLayout.CHANNELS_PER_SCALE;
      Fp8Codec.uncastRow(fp8, row * hidden, scales, row * numScales, hidden, dst, offset);
    } else {
      Bf16.toFloats(bf16, row * hidden, dst, offset, hidden);
    }
  }

  @Override
  public byte[] packedFp8() {
    return fp8;
  }

  @Override
  public float[] packedScales() {
    return scales;
  }

  @Override
  public short[] packedBf16() {
    return bf16;
  }

  private byte[] requireFp8() {
    if (fp8 == null) {
      throw new IllegalStateException("the dispatch was bf16: read bf16 rows");
    }
    return fp8;
  }
}
