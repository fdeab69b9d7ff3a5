package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.api.tcpstore.TcpStoreDialect;
import io.elasticmoe.api.tcpstore.TcpStoreOp;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

class TcpStoreFrameDecoderTest {
  private final TcpStoreFrameDecoder decoder =
      new TcpStoreFrameDecoder(KeyValueLimits.DEFAULTS, 1 << 20);

  private static TcpStoreWireClient.Frame frame(TcpStoreDialect dialect, TcpStoreOp op) {
    return new TcpStoreWireClient.Frame().u8(dialect.code(op));
  }

  @Test
  void validationMagicAfterByteZeroIsAPyTorch2Client() {
    byte[] validate =
        frame(TcpStoreDialect.PYTORCH_2, TcpStoreOp.VALIDATE)
            .u32(TcpStoreDialect.VALIDATION_MAGIC)
            .bytes();
    assertThat(TcpStoreFrameDecoder.detect(ByteBuffer.wrap(validate, 0, 4)))
        .as("undecided until five bytes")
        .isNull();
    assertThat(TcpStoreFrameDecoder.detect(ByteBuffer.wrap(validate)))
        .isEqualTo(TcpStoreDialect.PYTORCH_2);
  }

  @Test
  void anyOtherStartIsAPyTorch113Client() {
    byte[] set = frame(TcpStoreDialect.PYTORCH_1_13, TcpStoreOp.SET).str("/k").str("v").bytes();
    byte[] get = frame(TcpStoreDialect.PYTORCH_1_13, TcpStoreOp.GET).str("/k").bytes();
    assertThat(TcpStoreFrameDecoder.detect(ByteBuffer.wrap(set))).isEqualTo(TcpStoreDialect.PYTORCH_1_13);
    assertThat(TcpStoreFrameDecoder.detect(ByteBuffer.wrap(get, 0, 1)))
        .isEqualTo(TcpStoreDialect.PYTORCH_1_13);
  }

  @Test
  void theSameOpHasDifferentCodesInTheTwoDialects() {
    assertThat(TcpStoreDialect.PYTORCH_1_13.code(TcpStoreOp.DELETE_KEY)).isEqualTo(8);
    assertThat(TcpStoreDialect.PYTORCH_2.code(TcpStoreOp.DELETE_KEY)).isEqualTo(8);
    assertThat(TcpStoreDialect.PYTORCH_1_13.code(TcpStoreOp.SET)).isZero();
    assertThat(TcpStoreDialect.PYTORCH_2.code(TcpStoreOp.SET)).isEqualTo(1);
    assertThat(TcpStoreDialect.PYTORCH_2.code(TcpStoreOp.PING)).isEqualTo(13);
    assertThat(TcpStoreDialect.PYTORCH_1_13.code(TcpStoreOp.PING)).isEqualTo(-1);
  }

  @Test
  void everyPrefixOfAFrameIsIncompleteAndConsumesNothing() throws Exception {
    byte[] multiSet =
        frame(TcpStoreDialect.PYTORCH_2, TcpStoreOp.MULTI_SET)
            .i64(2).str("/a").str("1").str("/b").str("22")
            .bytes();
    for (int length = 0; length < multiSet.length; length++) {
      ByteBuffer prefix = ByteBuffer.wrap(multiSet, 0, length);
      assertThat(decoder.decode(TcpStoreDialect.PYTORCH_2, prefix)).as("prefix %d", length).isNull();
      assertThat(prefix.position()).isZero();
    }
    ByteBuffer whole = ByteBuffer.wrap(multiSet);
    TcpStoreRequest.MultiSet decoded =
        (TcpStoreRequest.MultiSet) decoder.decode(TcpStoreDialect.PYTORCH_2, whole);
    assertThat(decoded.keys()).containsExactly("/a", "/b");
    assertThat(TcpStoreWireClient.strings(decoded.values())).containsExactly("1", "22");
    assertThat(whole.hasRemaining()).isFalse();
  }

  @Test
  void decodesBackToBackFramesOneAtATime() throws Exception {
    byte[] two =
        frame(TcpStoreDialect.PYTORCH_1_13, TcpStoreOp.ADD).str("/c").i64(-3)
            .u8(TcpStoreDialect.PYTORCH_1_13.code(TcpStoreOp.WAIT)).keys("/x", "/y")
            .bytes();
    ByteBuffer in = ByteBuffer.wrap(two);
    assertThat(decoder.decode(TcpStoreDialect.PYTORCH_1_13, in))
        .isEqualTo(new TcpStoreRequest.Add("/c", -3));
    assertThat(decoder.decode(TcpStoreDialect.PYTORCH_1_13, in))
        .isEqualTo(new TcpStoreRequest.Wait(List.of("/x", "/y")));
    assertThat(decoder.decode(TcpStoreDialect.PYTORCH_1_13, in)).isNull();
  }

  @Test
  void absurdKeyLengthIsRefusedBeforeItsBytesArrive() {
    byte[] bytes = frame(TcpStoreDialect.PYTORCH_2, TcpStoreOp.GET).i64(-1L).bytes();
    TcpStoreProtocolException e =
        assertThrows(
            TcpStoreProtocolException.class,
            () -> decoder.decode(TcpStoreDialect.PYTORCH_2, ByteBuffer.wrap(bytes)));
    assertThat(e).hasMessage("key length is 18446744073709551615; the limit (maxKeyBytes) is 4096");
  }

  @Test
  void valueLongerThanTheStoreLimitIsRefused() {
    byte[] bytes = frame(TcpStoreDialect.PYTORCH_2, TcpStoreOp.SET).str("/k").i64(2 << 20).bytes();
    TcpStoreProtocolException e =
        assertThrows(
            TcpStoreProtocolException.class,
            () -> decoder.decode(TcpStoreDialect.PYTORCH_2, ByteBuffer.wrap(bytes)));
    assertThat(e).hasMessage("value length is 2097152; the limit (maxValueBytes) is 1048576");
  }

  @Test
  void frameBeyondMaxFrameBytesIsRefused() {
    TcpStoreFrameDecoder small = new TcpStoreFrameDecoder(KeyValueLimits.DEFAULTS, 1000);
    byte[] bytes = frame(TcpStoreDialect.PYTORCH_2, TcpStoreOp.SET).str("/k").i64(990).bytes();
    TcpStoreProtocolException e =
        assertThrows(
            TcpStoreProtocolException.class,
            () -> small.decode(TcpStoreDialect.PYTORCH_2, ByteBuffer.wrap(bytes)));
    assertThat(e).hasMessage("frame would be at least 1009 bytes; the limit (maxFrameBytes) is 1000");
  }

  @Test
  void keyCountOfZeroOrAboveTheLimitIsRefused() {
    for (long count : new long[] {0, 4097}) {
      byte[] bytes = frame(TcpStoreDialect.PYTORCH_2, TcpStoreOp.WAIT).i64(count).bytes();
      TcpStoreProtocolException e =
          assertThrows(
              TcpStoreProtocolException.class,
              () -> decoder.decode(TcpStoreDialect.PYTORCH_2, ByteBuffer.wrap(bytes)));
      assertThat(e)
          .hasMessage("keys count is " + count + "; it must be between 1 and 4096 (maxKeysPerRequest)");
    }
  }

  @Test
  void unknownQueryTypeNamesTheCodeAndTheDialectMaximum() {
    TcpStoreProtocolException e =
        assertThrows(
            TcpStoreProtocolException.class,
            () -> decoder.decode(TcpStoreDialect.PYTORCH_1_13, ByteBuffer.wrap(new byte[] {13})));
    assertThat(e).hasMessage("query type is 13; a PYTORCH_1_13 client sends at most 12");
  }

  @Test
  void opsThisEndpointDoesNotServeAreNamed() {
    byte[] bytes = frame(TcpStoreDialect.PYTORCH_2, TcpStoreOp.QUEUE_PUSH).str("/q").str("v").bytes();
    TcpStoreProtocolException e =
        assertThrows(
            TcpStoreProtocolException.class,
            () -> decoder.decode(TcpStoreDialect.PYTORCH_2, ByteBuffer.wrap(bytes)));
    assertThat(e)
        .hasMessage(
            "query type 14 (QUEUE_PUSH) is not served by this endpoint; see docs/tcpstore.md for the"
                + " ops it serves");
  }

  @Test
  void keysThatAreNotUtf8AreRefusedSoTwoByteStringsNeverShareAKey() {
    byte[] bytes =
        frame(TcpStoreDialect.PYTORCH_2, TcpStoreOp.GET).vec(new byte[] {'/', (byte) 0xFF}).bytes();
    TcpStoreProtocolException e =
        assertThrows(
            TcpStoreProtocolException.class,
            () -> decoder.decode(TcpStoreDialect.PYTORCH_2, ByteBuffer.wrap(bytes)));
    assertThat(e).hasMessage("key of 2 bytes is not valid UTF-8; store keys are UTF-8 strings");
    TcpStoreRequest ok =
        assertDoesNotThrowDecode(frame(TcpStoreDialect.PYTORCH_2, TcpStoreOp.GET).str("/é").bytes());
    assertThat(ok).isEqualTo(new TcpStoreRequest.Get("/é"));
  }

  private TcpStoreRequest assertDoesNotThrowDecode(byte[] bytes) {
    try {
      return decoder.decode(TcpStoreDialect.PYTORCH_2, ByteBuffer.wrap(bytes));
    } catch (TcpStoreProtocolException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void setValuesAreTheClientBytesUnchanged() throws Exception {
    byte[] value = {0, (byte) 0xFF, 1, (byte) 0x80};
    TcpStoreRequest.Set set =
        (TcpStoreRequest.Set)
            decoder.decode(
                TcpStoreDialect.PYTORCH_2,
                ByteBuffer.wrap(
                    frame(TcpStoreDialect.PYTORCH_2, TcpStoreOp.SET).str("/k").vec(value).bytes()));
    assertThat(set.key()).isEqualTo("/k");
    assertThat(set.value()).isEqualTo(value);
    assertThat(new String(set.key().getBytes(UTF_8), UTF_8)).isEqualTo("/k");
  }
}
