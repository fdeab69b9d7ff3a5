package io.elasticmoe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.worker.runtime.WorldView.Directive;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class RankRuntimeTest {

  /** Records the lifecycle calls; the data path is not used by RankRuntime. */
  private static final class RecordingBackend implements DispatchBackend {
    final List<String> calls = new ArrayList<>();
    final int[] mask = new int[8];

    @Override public DispatchLayout layout() { return DispatchLayout.of(8, 1, 1, 128); }
    @Override public int rank() { return 0; }
    @Override public void connect(long epoch, int[] ranks, int[] world, boolean activate) {
      calls.add("connect " + epoch + " " + Arrays.toString(ranks) + " " + Arrays.toString(world));
    }
    @Override public void disconnect(int[] ranks) {
      calls.add("disconnect " + Arrays.toString(ranks));
      Arrays.stream(ranks).forEach(r -> mask[r] = 0);
    }
    @Override public void updateMask(int rank, boolean masked) { mask[rank] = masked ? 1 : 0; }
    @Override public int[] queryMask() { return mask.clone(); }
    @Override public void cleanMask() { Arrays.fill(mask, 0); calls.add("cleanMask"); }
    @Override public DispatchResult dispatch(short[] x, int n, int[] t, int k, int e, boolean f, boolean r) {
      throw new UnsupportedOperationException("not used by RankRuntime");
    }
    @Override public short[] combine(short[] y, int[] t, float[] w, DispatchHandle h) {
      throw new UnsupportedOperationException("not used by RankRuntime");
    }
    @Override public List<PeerTimeoutException> takePeerTimeouts() { return List.of(); }
    @Override public void close() {}
  }

  @Test
  void followsGrowthLossRejoinAndExit() throws Exception {
    RecordingBackend backend = new RecordingBackend();
    RankRuntime runtime = new RankRuntime(backend);
    assertThat(runtime.apply(new WorldView(1, new int[] {0, 1, 2}, Directive.RUN))).isTrue();
    backend.updateMask(2, true); // a timeout during traffic
    assertThat(runtime.apply(new WorldView(2, new int[] {0, 1}, Directive.RUN))).isTrue();
    assertThat(runtime.apply(new WorldView(2, new int[] {0, 1}, Directive.RUN))).as("same epoch again").isFalse();
    assertThat(runtime.apply(new WorldView(3, new int[] {0, 1, 2}, Directive.RUN))).isTrue();
    assertThat(runtime.apply(new WorldView(4, new int[] {0, 1, 2}, Directive.EXIT))).isTrue();
    assertThat(runtime.apply(new WorldView(5, new int[] {0, 1, 2}, Directive.RUN))).as("after EXIT").isFalse();

    assertThat(backend.calls).containsExactly(
        "disconnect []", "connect 1 [1, 2] [0, 1, 2]",
        "disconnect [2]", "connect 2 [] [0, 1]",
        "disconnect []", "connect 3 [2] [0, 1, 2]",
        "disconnect [1, 2]");
    assertThat(runtime.state()).isEqualTo(RankRuntime.State.EXITED);
  }
}
