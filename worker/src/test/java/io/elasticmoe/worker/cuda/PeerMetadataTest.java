package io.elasticmoe.worker.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class PeerMetadataTest {

  @Test
  void roundTripsEveryPartIncludingAnEmptyUcxPart() {
    PeerMetadata staged = new PeerMetadata(new byte[] {1, 2, 3}, true, new byte[] {9, 8});
    PeerMetadata decoded = PeerMetadata.decode(staged.encode());
    assertThat(decoded.ipc()).containsExactly(1, 2, 3);
    assertThat(decoded.stageAll()).isTrue();
    assertThat(decoded.ucx()).containsExactly(9, 8);
    PeerMetadata ipcOnly = PeerMetadata.decode(new PeerMetadata(new byte[] {7}, false, new byte[0]).encode());
    assertThat(ipcOnly.stageAll()).isFalse();
    assertThat(ipcOnly.ucx()).isEmpty();
  }

  @Test
  void truncatedOrPaddedMetadataIsRefusedWithWhatIsWrong() {
    byte[] encoded = new PeerMetadata(new byte[] {1, 2, 3}, false, new byte[] {4}).encode();
    assertThatThrownBy(() -> PeerMetadata.decode(Arrays.copyOf(encoded, encoded.length - 1)))
        .hasMessageContaining("corrupt").hasMessageContaining("UCX part of 1 bytes with 0 left");
    assertThatThrownBy(() -> PeerMetadata.decode(Arrays.copyOf(encoded, encoded.length + 2)))
        .hasMessageContaining("2 trailing bytes");
    assertThatThrownBy(() -> PeerMetadata.decode(new byte[] {0, 0, 0, 0}))
        .hasMessageContaining("no staging flag");
  }
}
