package io.elasticmoe.operator.tcpstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Set;
import org.junit.jupiter.api.Test;

class ListenerPortRangeTest {
  private static final ListenerPortRange RANGE = new ListenerPortRange(30000, 30004);

  @Test
  void previousPortComesFirstSoARestartedOperatorKeepsIt() {
    assertThat(RANGE.candidates(30003, Set.of())).containsExactly(30003, 30000, 30001, 30002, 30004);
  }

  @Test
  void portsOfOtherDeploymentsAreNeverOffered() {
    assertThat(RANGE.candidates(30001, Set.of(30001, 30002))).containsExactly(30000, 30003, 30004);
    assertThat(RANGE.candidates(null, Set.of(30000))).containsExactly(30001, 30002, 30003, 30004);
  }

  @Test
  void previousPortOutsideTheRangeIsDropped() {
    assertThat(RANGE.candidates(29500, Set.of())).containsExactly(30000, 30001, 30002, 30003, 30004);
  }

  @Test
  void fullRangeOffersNothing() {
    assertThat(new ListenerPortRange(30000, 30001).candidates(null, Set.of(30000, 30001))).isEmpty();
  }

  @Test
  void parsesARangeOrASinglePort() {
    assertThat(ListenerPortRange.parse(" 29500-29755 ")).isEqualTo(new ListenerPortRange(29500, 29755));
    assertThat(ListenerPortRange.parse("29500").size()).isEqualTo(1);
  }

  @Test
  void badRangesAreRefusedWithTheValue() {
    assertThat(assertThrows(IllegalArgumentException.class, () -> ListenerPortRange.parse("30010-30000")))
        .hasMessage("tcpstore listener port range is 30010-30000; it must be FIRST-LAST with 1 <= FIRST <= LAST <= 65535");
    assertThat(assertThrows(IllegalArgumentException.class, () -> ListenerPortRange.parse("a-b")))
        .hasMessage("tcpstore listener port range is 'a-b'; expected FIRST-LAST, e.g. 29500-29755");
    assertThrows(IllegalArgumentException.class, () -> new ListenerPortRange(0, 10));
  }
}
