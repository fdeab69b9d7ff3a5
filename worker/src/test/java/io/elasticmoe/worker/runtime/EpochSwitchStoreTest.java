package io.elasticmoe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class EpochSwitchStoreTest {

  @Test
  void aPaddedPlacementIsStoredFarBelowTheValueLimitAndReadBackExactly() throws Exception {
    MapKeyValueStore store = new MapKeyValueStore();
    EpochSwitchStore switches = new EpochSwitchStore(store, Duration.ofMillis(10));
    // The shape of a DeepSeek-V3-sized message: mostly -1 padding as ten-byte varints, some slot ids.
    byte[] encoded = new byte[1_000_000];
    Arrays.fill(encoded, (byte) 0xff);
    for (int i = 0; i < encoded.length; i += 97) {
      encoded[i] = (byte) (i % 251);
    }
    switches.publishPlacement(new ObservedPlacement(7, 3, encoded));
    assertThat(store.values.get("EPOCH_SWITCH/placement/7").length).isLessThan(encoded.length / 8);
    assertThat(switches.placement(7)).isEqualTo(encoded);
  }

  @Test
  void aValueThatIsNotDeflatedIsRefusedNamingTheVersion() {
    MapKeyValueStore store = new MapKeyValueStore();
    store.set("EPOCH_SWITCH/placement/4", new byte[] {1, 2, 3});
    assertThatThrownBy(() -> new EpochSwitchStore(store, Duration.ofMillis(10)).placement(4))
        .hasMessageContaining("placement version 4");
  }
}
