package io.elasticmoe.worker.cuda;

import java.util.Locale;
import java.util.function.Supplier;

/**
 * Which data plane {@code run --backend cpu|cuda|auto} gets on this host, decided from the {@link GpuProbe}
 * result alone (pure, so every branch and its words are tested on machines without a GPU).
 *
 * <ul>
 *   <li>{@code cpu}: the CPU backend;
 *   <li>{@code cuda}: the CUDA backend on GPU {@code --gpu}, or {@code rank % deviceCount} (one GPU per rank,
 *       ranks of a node numbered densely); without a driver or a device the run is refused with the probe's
 *       reason: a rank that silently ran on the CPU would be orders of magnitude slower than its peers;
 *   <li>{@code auto}: CUDA where the probe finds a device, otherwise the CPU backend, with a note saying why.
 * </ul>
 */
public record BackendChoice(Kind kind, int deviceOrdinal, String note) {

  public enum Kind { CPU, CUDA }

  /**
   * {@code requested} as given ({@code cpu}, {@code cuda}, {@code auto}, any case); {@code explicitDevice} is
   * the {@code --gpu} ordinal or −1 for {@code rank % deviceCount}. {@code probed} is asked only for cuda and
   * auto: a CPU rank never loads the CUDA driver.
   */
  public static BackendChoice choose(String requested, Supplier<GpuProbe.Result> probed, int rank, int explicitDevice) {
    String mode = requested == null ? "" : requested.strip().toLowerCase(Locale.ROOT);
    if (mode.equals("cpu")) {
      return new BackendChoice(Kind.CPU, -1, "cpu backend");
    }
    if (!mode.equals("cuda") && !mode.equals("auto")) {
      throw new IllegalArgumentException("--backend is " + requested + "; use cpu, cuda or auto");
    }
    GpuProbe.Result probe = probed.get();
    if (probe.available()) {
      return cuda(probe, rank, explicitDevice, mode.equals("auto") ? "cuda backend (auto: " + probe.reason() + ")" : "cuda backend");
    }
    if (mode.equals("auto")) {
      return new BackendChoice(Kind.CPU, -1, "cpu backend (auto fell back: " + probe.reason() + ")");
    }
    throw new IllegalStateException("--backend cuda cannot start: " + probe.reason()
        + " (--backend auto falls back to the CPU backend where no GPU is usable)");
  }

  private static BackendChoice cuda(GpuProbe.Result probe, int rank, int explicitDevice, String note) {
    if (explicitDevice < -1 || explicitDevice >= probe.deviceCount()) {
      throw new IllegalArgumentException("--gpu is " + explicitDevice + "; this host has " + probe.deviceCount()
          + " CUDA device(s): use 0.." + (probe.deviceCount() - 1) + ", or leave it out for rank % " + probe.deviceCount());
    }
    int device = explicitDevice >= 0 ? explicitDevice : rank % probe.deviceCount();
    return new BackendChoice(Kind.CUDA, device, note + " on GPU " + device);
  }
}
