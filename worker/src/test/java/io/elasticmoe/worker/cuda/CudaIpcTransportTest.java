package io.elasticmoe.worker.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import jcuda.driver.CUipcMemHandle;
import org.junit.jupiter.api.Test;

class CudaIpcTransportTest {

  @Test
  void handleBytesRoundTripThroughThePrivateReservedField() {
    byte[] bytes = new byte[64];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) (i * 7 + 1);
    }
    CUipcMemHandle handle = new CUipcMemHandle();
    CudaIpcTransport.setHandleBytes(handle, bytes);
    assertThat(CudaIpcTransport.handleBytes(handle)).isEqualTo(bytes);
  }

  @Test
  void metadataCarriesTheHostIdentity() {
    byte[] metadata = CudaIpcTransport.encode("boot-1234", 42, new byte[64]);
    assertThat(CudaIpcTransport.decodeHost(metadata)).isEqualTo("boot-1234");
  }

  @Test
  void metadataCarriesEveryExportedHandleInOrder() {
    byte[] buffer = new byte[64];
    byte[] outputs = new byte[64];
    buffer[0] = 1;
    outputs[63] = 2;
    byte[][] handles = CudaIpcTransport.decodeHandles(CudaIpcTransport.encode("boot-1234", 42, buffer, outputs));
    assertThat(handles).hasDimensions(2, 64);
    assertThat(handles[0]).isEqualTo(buffer);
    assertThat(handles[1]).isEqualTo(outputs);
  }

  @Test
  void metadataWithMissingHandleBytesIsRejectedWithTheCount() {
    byte[] metadata = CudaIpcTransport.encode("boot-1234", 42, new byte[64], new byte[64]);
    assertThatThrownBy(() -> CudaIpcTransport.decodeHandles(Arrays.copyOf(metadata, metadata.length - 64)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("2 allocations with 64 handle bytes left").hasMessageContaining("corrupt");
  }

  @Test
  void corruptMetadataIsRejectedWithItsSize() {
    byte[] metadata = CudaIpcTransport.encode("boot-1234", 42, new byte[64]);
    metadata[3] = 127;
    assertThatThrownBy(() -> CudaIpcTransport.decodeHost(metadata))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(metadata.length + " bytes").hasMessageContaining("corrupt");
  }
}
