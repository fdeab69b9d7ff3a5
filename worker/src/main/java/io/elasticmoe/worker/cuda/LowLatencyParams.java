package io.elasticmoe.worker.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.EnumMap;

/**
 * The one kernel argument of every LL kernel, {@code elasticmoe::LowLatencyParams} in {@code kernels/api.cuh}:
 * 8-byte fields in declaration order, passed by value. {@link Field} lists them in the same order and with the
 * same names; KernelConfigsTest parses api.cuh and fails when they drift.
 */
public final class LowLatencyParams {

  /** Fields of the C struct, in order; each is 8 bytes (device pointer, byte offset or size). */
  public enum Field {
    LOCAL_BASE, PEER_BASES, PEER_SLICES, RECV_BASES, MASK, X, TOPK_IDX, TOPK_WEIGHTS, RECV_X, RECV_SCALES, RECV_COUNT, SRC_INFO,
    LAYOUT_RANGE, EXPERT_COUNT, ENTRY_SLOT, EXPERT_DONE, GRID_BARRIER, RECV_MIRROR, PEER_OUTPUTS, EXPERT_PLAN,
    RECV_OFFSET, RECV_EXPERT_STRIDE, RECV_RANK_STRIDE, RECV_SLOT_STRIDE,
    COUNT_OFFSET, COUNT_EXPERT_STRIDE, COUNT_RANK_STRIDE,
    PAYLOAD_OFFSET, SCALES_OFFSET,
    COMBINE_RECV_OFFSET, COMBINE_EXPERT_STRIDE, COMBINE_TOKEN_STRIDE,
    FLAG_OFFSET, FLAG_STRIDE,
    NEXT_SIGNAL_OFFSET, SIGNAL_BYTES,
    LIVE_SET_OFFSET, LIVE_SET_RANK_STRIDE,
    COUNT_VECTOR_OFFSET, COUNT_VECTOR_RANK_STRIDE,
    OUT_X_OFFSET, OUT_SCALES_OFFSET, OUT_SRC_INFO_OFFSET,
    NEXT_EXCHANGE_OFFSET, EXCHANGE_BYTES,
    RANK, NUM_RANKS, NUM_LOCAL_EXPERTS, MAX_TOKENS, NUM_TOKENS, NUM_TOPK,
    USE_FP8, ROUND_SCALE, TIMEOUT_NS,
    EXCHANGE_WAIT_NS
  }

  public static final int BYTES = Field.values().length * 8;

  private final EnumMap<Field, Long> values = new EnumMap<>(Field.class);

  public LowLatencyParams set(Field field, long value) {
    values.put(field, value);
    return this;
  }

  public long get(Field field) {
    return values.getOrDefault(field, 0L);
  }

  /** The struct's bytes, little-endian as the device reads them. */
  public byte[] toBytes() {
    ByteBuffer bytes = ByteBuffer.allocate(BYTES).order(ByteOrder.LITTLE_ENDIAN);
    for (Field field : Field.values()) {
      bytes.putLong(get(field));
    }
    return bytes.array();
  }
}
