package io.elasticmoe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class DispatchLayoutTest {

  private record Region(String name, long begin, long bytes) {}

  private static List<Region> regions(DispatchLayout layout) {
    List<Region> regions = new ArrayList<>();
    for (int b = 0; b < DispatchLayout.NUM_BUFFERS; b++) {
      regions.add(new Region("signal" + b, layout.signalOffset(b), layout.signalRegionBytes()));
      regions.add(new Region("send" + b, layout.sendOffset(b), layout.sendRegionBytes()));
      regions.add(new Region("recv" + b, layout.recvOffset(b), layout.recvRegionBytes()));
    }
    regions.add(new Region("liveness", layout.livenessOffset(), layout.livenessRegionBytes()));
    return regions;
  }

  private static DispatchLayout layout(int ranksIdx, int localExperts, int tokens, int hiddenUnits) {
    int[] validRanks = {1, 2, 3, 4, 5, 6, 7, 8, 16, 24, 32};
    return DispatchLayout.of(validRanks[ranksIdx], localExperts, tokens, hiddenUnits * 128);
  }

  @Property(tries = 300)
  void regionsAreDisjointAlignedAndSumToTotal(
      @ForAll @IntRange(min = 0, max = 10) int ranksIdx,
      @ForAll @IntRange(min = 1, max = 64) int localExperts,
      @ForAll @IntRange(min = 1, max = 1024) int tokens,
      @ForAll @IntRange(min = 1, max = 64) int hiddenUnits) {
    DispatchLayout layout = layout(ranksIdx, localExperts, tokens, hiddenUnits);
    List<Region> regions = regions(layout);
    regions.sort(Comparator.comparingLong(Region::begin));
    long expectedBegin = 0;
    long sum = 0;
    for (Region region : regions) {
      assertThat(region.begin() % DispatchLayout.ALIGNMENT_BYTES).as(region.name()).isZero();
      assertThat(region.bytes() % DispatchLayout.ALIGNMENT_BYTES).as(region.name()).isZero();
      assertThat(region.begin()).as(region.name() + " follows the previous region").isEqualTo(expectedBegin);
      expectedBegin = region.begin() + region.bytes();
      sum += region.bytes();
    }
    assertThat(regions.stream().map(Region::name))
        .containsExactly("signal0", "signal1", "send0", "send1", "recv0", "recv1", "liveness");
    assertThat(layout.totalBytes()).isEqualTo(sum).isEqualTo(expectedBegin);
  }

  @Property(tries = 200)
  void messageSlotsStayInsideTheirRegion(
      @ForAll @IntRange(min = 0, max = 10) int ranksIdx,
      @ForAll @IntRange(min = 1, max = 64) int localExperts,
      @ForAll @IntRange(min = 1, max = 1024) int tokens,
      @ForAll @IntRange(min = 1, max = 64) int hiddenUnits,
      @ForAll @IntRange(min = 0, max = 1) int buffer) {
    DispatchLayout l = layout(ranksIdx, localExperts, tokens, hiddenUnits);
    int lastRank = l.maxRanks() - 1;
    int lastExpert = l.numLocalExperts() - 1;
    int lastToken = l.maxTokensPerRank() - 1;
    long sendEnd = l.sendOffset(buffer) + l.sendRegionBytes();
    long recvEnd = l.recvOffset(buffer) + l.recvRegionBytes();
    long signalEnd = l.signalOffset(buffer) + l.signalRegionBytes();
    assertThat(l.dispatchSendSlotOffset(buffer, lastToken) + l.dispatchMessageBytes()).isLessThanOrEqualTo(sendEnd);
    assertThat(l.dispatchRecvSlotOffset(buffer, lastExpert, lastRank, lastToken) + l.dispatchMessageBytes())
        .isLessThanOrEqualTo(recvEnd);
    assertThat(l.combineSendSlotOffset(buffer, lastExpert, l.maxRanks() * l.maxTokensPerRank() - 1)
            + l.combineMessageBytes())
        .isLessThanOrEqualTo(sendEnd);
    assertThat(l.combineRecvSlotOffset(buffer, l.numExperts() - 1, lastToken) + l.combineMessageBytes())
        .isLessThanOrEqualTo(recvEnd);
    assertThat(l.dispatchCountOffset(buffer, lastExpert, lastRank) + DispatchLayout.SIGNAL_BYTES)
        .isLessThanOrEqualTo(signalEnd);
    assertThat(l.livenessWordOffset(lastRank) + DispatchLayout.SIGNAL_BYTES)
        .isLessThanOrEqualTo(l.livenessOffset() + l.livenessRegionBytes())
        .isLessThanOrEqualTo(l.totalBytes());
    assertThat(l.combineFlagOffset(buffer, l.numExperts() - 1) + DispatchLayout.SIGNAL_BYTES)
        .isLessThanOrEqualTo(signalEnd);
    assertThat(l.dispatchSendSlotOffset(buffer, 0)).isEqualTo(l.sendOffset(buffer));
    assertThat(l.dispatchRecvSlotOffset(buffer, 0, 0, 0)).isEqualTo(l.recvOffset(buffer));
  }

  @Property(tries = 100)
  void offsetsAreIdenticalOnEveryRank(
      @ForAll @IntRange(min = 0, max = 10) int ranksIdx,
      @ForAll @IntRange(min = 1, max = 16) int localExperts,
      @ForAll @IntRange(min = 1, max = 1024) int tokens,
      @ForAll @IntRange(min = 1, max = 64) int hiddenUnits) {
    // A layout is a function of the capacity only: two ranks building it independently agree on every offset.
    DispatchLayout onRankA = layout(ranksIdx, localExperts, tokens, hiddenUnits);
    DispatchLayout onRankB = layout(ranksIdx, localExperts, tokens, hiddenUnits);
    assertThat(regions(onRankB)).isEqualTo(regions(onRankA));
    int slot = tokens - 1;
    assertThat(onRankB.dispatchRecvSlotOffset(1, localExperts - 1, onRankA.maxRanks() - 1, slot))
        .isEqualTo(onRankA.dispatchRecvSlotOffset(1, localExperts - 1, onRankA.maxRanks() - 1, slot));
    assertThat(onRankB.combineRecvSlotOffset(0, onRankA.numExperts() - 1, slot))
        .isEqualTo(onRankA.combineRecvSlotOffset(0, onRankA.numExperts() - 1, slot));
  }

  @Property(tries = 200)
  void dispatchOutputsAreDisjointAlignedAndHoldEveryEntry(
      @ForAll @IntRange(min = 0, max = 10) int ranksIdx,
      @ForAll @IntRange(min = 1, max = 64) int localExperts,
      @ForAll @IntRange(min = 1, max = 1024) int tokens,
      @ForAll @IntRange(min = 1, max = 64) int hiddenUnits) {
    DispatchLayout l = layout(ranksIdx, localExperts, tokens, hiddenUnits);
    long expectedBegin = 0;
    for (int b = 0; b < DispatchLayout.NUM_BUFFERS; b++) {
      long[][] regions = {
        {l.exchangeOffset(b), l.exchangeRegionBytes()},
        {l.recvXOffset(b), l.recvXRegionBytes()},
        {l.recvScalesOffset(b), l.recvScalesRegionBytes()},
        {l.srcInfoOffset(b), l.srcInfoRegionBytes()},
      };
      for (long[] region : regions) {
        assertThat(region[0] % DispatchLayout.ALIGNMENT_BYTES).isZero();
        assertThat(region[1] % DispatchLayout.ALIGNMENT_BYTES).isZero();
        assertThat(region[0]).isEqualTo(expectedBegin);
        expectedBegin += region[1];
      }
      int lastRank = l.maxRanks() - 1;
      long packedRows = (long) l.numExperts() * l.maxTokensPerRank();
      assertThat(l.liveSetWordOffset(b, lastRank, l.liveSetWords() - 1) + DispatchLayout.SIGNAL_BYTES)
          .isLessThanOrEqualTo(l.countVectorOffset(b, 0, 0));
      assertThat(l.countVectorOffset(b, lastRank, l.numExperts() - 1) + 4)
          .isLessThanOrEqualTo(l.exchangeOffset(b) + l.exchangeRegionBytes());
      assertThat(l.recvXRegionBytes()).isGreaterThanOrEqualTo(packedRows * 2 * l.hidden());
      assertThat(l.recvScalesRegionBytes()).isGreaterThanOrEqualTo(packedRows * 4 * l.numScales());
      assertThat(l.srcInfoRegionBytes()).isGreaterThanOrEqualTo(packedRows * 4);
    }
    assertThat(l.outputsTotalBytes()).isEqualTo(expectedBegin);
    assertThat(l.liveSetWords() * DispatchLayout.LIVE_SET_RANKS_PER_WORD).isGreaterThanOrEqualTo(l.maxRanks());
  }

  @Test
  void matchesDesignFormulasForTheBenchmarkShape() {
    DispatchLayout l = DispatchLayout.of(4, 32, 128, 7168);
    long s = 7168 / 128;
    long msgDispatch = 16 + Math.max(2 * 7168, 7168 + 4 * s);
    long msgCombine = 4 * s + 2 * 7168;
    assertThat(l.dispatchMessageBytes()).isEqualTo(msgDispatch).isEqualTo(14352);
    assertThat(l.combineMessageBytes()).isEqualTo(msgCombine).isEqualTo(14560);
    assertThat(l.signalRegionBytes()).isEqualTo(1024);
    assertThat(l.sendRegionBytes()).isEqualTo(128L * 128 * msgCombine);
    assertThat(l.recvRegionBytes()).isEqualTo(128L * 128 * msgCombine);
    assertThat(l.dispatchScalesOffset()).isEqualTo(16 + 7168);
  }

  @Test
  void rejectsBadCapacityNamingValueAndLimit() {
    assertThatThrownBy(() -> DispatchLayout.of(12, 1, 1, 128))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("maxRanks is 12")
        .hasMessageContaining("multiple of 8");
    assertThatThrownBy(() -> DispatchLayout.of(4, 0, 1, 128)).hasMessageContaining("numLocalExperts is 0");
    assertThatThrownBy(() -> DispatchLayout.of(4, 1, 1025, 128))
        .hasMessageContaining("maxTokensPerRank is 1025")
        .hasMessageContaining("MAX_TOKENS_PER_RANK");
    assertThatThrownBy(() -> DispatchLayout.of(4, 1, 1, 200))
        .hasMessageContaining("hidden is 200")
        .hasMessageContaining("multiple of 128");
  }

  @Test
  void rejectsOutOfRangeIndicesNamingValue() {
    DispatchLayout l = DispatchLayout.of(4, 2, 8, 128);
    assertThatThrownBy(() -> l.signalOffset(2)).hasMessageContaining("bufferIdx is 2");
    assertThatThrownBy(() -> l.dispatchRecvSlotOffset(0, 0, 4, 0)).hasMessageContaining("rank is 4");
    assertThatThrownBy(() -> l.dispatchRecvSlotOffset(0, 2, 0, 0)).hasMessageContaining("local expert is 2");
    assertThatThrownBy(() -> l.combineRecvSlotOffset(0, 8, 0)).hasMessageContaining("global expert is 8");
    assertThatThrownBy(() -> l.dispatchSendSlotOffset(0, 8)).hasMessageContaining("token index is 8");
  }
}
