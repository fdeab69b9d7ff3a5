package io.elasticmoe.worker.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.worker.runtime.DispatchLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class ReceiveBufferRowsTest {

  private static final int HIDDEN = 128;
  private static final int MESSAGE = DispatchLayout.DISPATCH_HEADER_BYTES + 2 * HIDDEN;

  /** Rows 0 and 2 hold messages (row 2's first), row 1 holds none. */
  private static ReceiveBufferRows rows(ByteBuffer buffer, boolean fp8) {
    return new ReceiveBufferRows(buffer, buffer.asShortBuffer(), buffer.asFloatBuffer(),
        new int[] {MESSAGE, -1, 0}, HIDDEN, fp8);
  }

  private static ByteBuffer buffer() {
    ByteBuffer buffer = ByteBuffer.allocateDirect(2 * MESSAGE).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < buffer.capacity(); i++) {
      buffer.put(i, (byte) (i * 7 + 1));
    }
    return buffer;
  }

  @Test
  void packedFp8RowsAndScalesAreEachMessagesPayloadWithEmptyRowsZero() {
    ByteBuffer buffer = buffer();
    ReceiveBufferRows rows = rows(buffer, true);
    byte[] codes = rows.packedFp8();
    float[] scales = rows.packedScales();
    assertThat(codes).hasSize(3 * HIDDEN);
    assertThat(scales).hasSize(3);
    int[] messages = {MESSAGE, -1, 0};
    for (int row = 0; row < 3; row++) {
      int payload = messages[row] + DispatchLayout.DISPATCH_HEADER_BYTES;
      for (int c = 0; c < HIDDEN; c++) {
        assertThat(codes[row * HIDDEN + c]).isEqualTo(messages[row] < 0 ? 0 : buffer.get(payload + c));
      }
      assertThat(scales[row]).isEqualTo(messages[row] < 0 ? 0f : buffer.getFloat(payload + HIDDEN));
    }
    assertThat(rows.packedBf16()).isNull();
  }

  @Test
  void packedBf16RowsAreEachMessagesPayloadWithEmptyRowsZero() {
    ByteBuffer buffer = buffer();
    ReceiveBufferRows rows = rows(buffer, false);
    short[] values = rows.packedBf16();
    int[] messages = {MESSAGE, -1, 0};
    for (int row = 0; row < 3; row++) {
      int payload = messages[row] + DispatchLayout.DISPATCH_HEADER_BYTES;
      for (int c = 0; c < HIDDEN; c++) {
        assertThat(values[row * HIDDEN + c]).isEqualTo(messages[row] < 0 ? 0 : buffer.getShort(payload + 2 * c));
      }
    }
    assertThat(rows.packedFp8()).isNull();
    assertThat(rows.packedScales()).isNull();
  }
}
