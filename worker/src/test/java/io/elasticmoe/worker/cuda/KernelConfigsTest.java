package io.elasticmoe.worker.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.worker.runtime.DispatchLayout;
import io.elasticmoe.worker.runtime.Fp8Codec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Each limit has one definition per language: configs.cuh, launch.cuh and api.cuh must equal the Java side. */
class KernelConfigsTest {

  // Maven runs tests in worker/; the device scripts run them from the repository root.
  private static final Path KERNELS =
      Files.isDirectory(Path.of("..", "kernels")) ? Path.of("..", "kernels") : Path.of("kernels");
  private static final Pattern DEFINE = Pattern.compile("^#define\\s+(\\w+)\\s+(\\S+)\\s*$", Pattern.MULTILINE);

  private static Map<String, String> defines(String file) throws IOException {
    Map<String, String> defines = new HashMap<>();
    Matcher matcher = DEFINE.matcher(Files.readString(KERNELS.resolve(file)));
    while (matcher.find()) {
      defines.put(matcher.group(1), matcher.group(2));
    }
    return defines;
  }

  @Test
  void configsLimitsEqualTheDispatchLayoutConstants() throws IOException {
    Map<String, String> configs = defines("configs.cuh");
    assertThat(configs).containsEntry("NUM_MAX_TOPK", String.valueOf(DispatchLayout.MAX_TOPK))
        .containsEntry("NUM_MAX_DISPATCH_TOKENS", String.valueOf(DispatchLayout.MAX_TOKENS_PER_RANK))
        .containsEntry("NUM_BUFFER_ALIGNMENT_BYTES", String.valueOf(DispatchLayout.ALIGNMENT_BYTES))
        .containsEntry("NUM_CHANNELS_PER_SCALE", String.valueOf(DispatchLayout.CHANNELS_PER_SCALE))
        .containsEntry("NUM_HIDDEN_ALIGNMENT", String.valueOf(DispatchLayout.HIDDEN_ALIGNMENT))
        .containsEntry("NUM_FP8_HIDDEN_ALIGNMENT", String.valueOf(DispatchLayout.FP8_HIDDEN_ALIGNMENT))
        .containsEntry("NUM_RECV_ROWS_ALIGNMENT", String.valueOf(DispatchLayout.RECV_ROWS_ALIGNMENT))
        .containsEntry("NUM_DISPATCH_HEADER_BYTES", String.valueOf(DispatchLayout.DISPATCH_HEADER_BYTES))
        .containsEntry("NUM_SIGNAL_BYTES", String.valueOf(DispatchLayout.SIGNAL_BYTES))
        .containsEntry("NUM_BUFFERS", String.valueOf(DispatchLayout.NUM_BUFFERS))
        .containsEntry("COMBINE_FLAG_TAG", "0x" + Long.toHexString(DispatchLayout.COMBINE_FLAG_TAG) + "ull")
        .containsEntry("DISPATCH_IN_PLACE", "0x" + Long.toHexString(DispatchLayout.DISPATCH_IN_PLACE) + "ull")
        .containsEntry("NUM_LIVE_SET_RANKS_PER_WORD", String.valueOf(DispatchLayout.LIVE_SET_RANKS_PER_WORD))
        .containsEntry("LIVE_SET_PUBLISHED", "0x" + Long.toHexString(DispatchLayout.LIVE_SET_PUBLISHED) + "ull")
        .containsEntry("NUM_MAX_TIMEOUT_MILLIS", String.valueOf(CudaDispatchBackend.MAX_TIMEOUT_MILLIS));
    assertThat(Float.parseFloat(configs.get("FP8_MAX"))).isEqualTo(Fp8Codec.FP8_MAX);
    assertThat(Float.parseFloat(configs.get("FP8_AMAX_FLOOR"))).isEqualTo(Fp8Codec.AMAX_FLOOR);
  }

  @Test
  void launchShapesAndCompiledHiddenSizesEqualKernelLibrary() throws IOException {
    Map<String, String> launch = defines("launch.cuh");
    assertThat(launch).containsEntry("NUM_DISPATCH_THREADS", String.valueOf(KernelLibrary.DISPATCH_THREADS))
        .containsEntry("NUM_COMBINE_THREADS", String.valueOf(KernelLibrary.COMBINE_THREADS))
        .containsEntry("NUM_PEER_WRITE_THREADS", String.valueOf(KernelLibrary.PEER_WRITE_THREADS))
        .containsEntry("NUM_MAX_SOURCE_RANKS", String.valueOf(KernelLibrary.MAX_SOURCE_RANKS));
    Matcher table = Pattern.compile("#define EMOE_FOR_EACH_HIDDEN\\(X\\)(.*)").matcher(Files.readString(KERNELS.resolve("launch.cuh")));
    assertThat(table.find()).isTrue();
    List<Integer> compiled = Pattern.compile("X\\((\\d+)\\)").matcher(table.group(1)).results()
        .map(m -> Integer.parseInt(m.group(1))).toList();
    assertThat(compiled).isEqualTo(KernelLibrary.SUPPORTED_HIDDEN);
  }

  @Test
  void parameterStructFieldsMatchLowLatencyParamsInOrderAndWidth() throws IOException {
    String api = Files.readString(KERNELS.resolve("api.cuh"));
    String body = api.substring(api.indexOf("struct LowLatencyParams {"), api.indexOf("};", api.indexOf("struct LowLatencyParams {")));
    List<String> fields = body.lines()
        .map(line -> line.replaceAll("//.*", "").strip())
        .filter(line -> line.startsWith("uint64_t ") || line.startsWith("int64_t "))
        .flatMap(line -> Arrays.stream(line.replaceFirst("^u?int64_t ", "").replace(";", "").split(",")))
        .map(String::strip)
        .toList();
    List<String> java = Arrays.stream(LowLatencyParams.Field.values())
        .map(f -> f.name().toLowerCase(Locale.ROOT)).toList();
    assertThat(fields).isEqualTo(java);
    assertThat(LowLatencyParams.BYTES).isEqualTo(8 * fields.size());
  }
}
