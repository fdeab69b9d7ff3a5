package io.elasticmoe.worker.cpu;

import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.Fp8Codec;
import io.elasticmoe.worker.runtime.Bf16;
import io.elasticmoe.worker.runtime.ReceivedRows;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/**
 * Received rows read in place from the receive region of the UCX buffer: packed row {@code r} is the
 * dispatch message at byte {@code messageOffset[r]} (−1: no row), its payload after the 16-byte header.
 * Nothing is copied at dispatch; the rows stay valid until the rank's next dispatch or combine call, after
 * which peers may write the region again (see {@link ReceivedRows}).
 */
final class ReceiveBufferRows implements ReceivedRows {

  private final ByteBuffer buffer;
  private final ShortBuffer shorts;
  private final FloatBuffer floats;
  private final int[] messageOffset;
  private final int hidden;
  private final int numScales;
  private final boolean fp8;

  ReceiveBufferRows(ByteBuffer buffer, ShortBuffer shorts, FloatBuffer floats, int[] messageOffset, int hidden,
      boolean fp8) {
    this.buffer = buffer;
    this.shorts = shorts;
    this.floats = floats;
    this.messageOffset = messageOffset;
    this.hidden = hidden;
    this.numScales = hidden / DispatchLayout.CHANNELS_PER_SCALE;
    this.fp8 = fp8;
  }

  @Override
  public boolean isFp8() {
    return fp8;
  }

  @Override
  public void fp8Codes(int row, byte[] dst, int offset) {
    requireKind(true);
    buffer.get(payload(row), dst, offset, hidden);
  }

  @Override
  public void scales(int row, float[] dst, int offset) {
    requireKind(true);
    floats.get((payload(row) + hidden) / 4, dst, offset, numScales);
  }

  @Override
  public void bf16(int row, short[] dst, int offset) {
    requireKind(false);
    shorts.get(payload(row) / 2, dst, offset, hidden);
  }

  @Override
  public void toFloat(int row, float[] dst, int offset) {
    // Bulk reads, then the codecs' own conversions: one definition of each for every backend.
    if (fp8) {
      byte[] codes = new byte[hidden];
      float[] rowScales = new float[numScales];
      fp8Codes(row, codes, 0);
      scales(row, rowScales, 0);
      Fp8Codec.uncastRow(codes, 0, rowScales, 0, hidden, dst, offset);
    } else {
      short[] values = new short[hidden];
      bf16(row, values, 0);
      Bf16.toFloats(values, 0, dst, offset, hidden);
    }
  }

  @Override
  public byte[] packedFp8() {
    return fp8 ? packed(new byte[messageOffset.length * hidden], hidden, this::fp8Codes) : null;
  }

  @Override
  public float[] packedScales() {
    return fp8 ? packed(new float[messageOffset.length * numScales], numScales, this::scales) : null;
  }

  @Override
  public short[] packedBf16() {
    return fp8 ? null : packed(new short[messageOffset.length * hidden], hidden, this::bf16);
  }

  /** One of the row readers above, for the arrays of {@link #packedFp8} and its siblings. */
  private interface RowReader<A> {
    void read(int row, A dst, int offset);
  }

  /** Every received row read into {@code packed} at {@code row · width}; rows holding no token stay 0. */
  private <A> A packed(A packed, int width, RowReader<A> reader) {
    for (int row = 0; row < messageOffset.length; row++) {
      if (messageOffset[row] >= 0) {
        reader.read(row, packed, row * width);
      }
    }
    return packed;
  }

  private int payload(int row) {
    if (row < 0 || row >= messageOffset.length || messageOffset[row] < 0) {
      throw new IllegalArgumentException("row " + row + " holds no received token");
    }
    return messageOffset[row] + DispatchLayout.DISPATCH_HEADER_BYTES;
  }

  private void requireKind(boolean wantFp8) {
    if (fp8 != wantFp8) {
      throw new IllegalStateException(
          "the dispatch was " + (fp8 ? "fp8: read codes and scales" : "bf16: read bf16 rows"));
    }
  }
}
