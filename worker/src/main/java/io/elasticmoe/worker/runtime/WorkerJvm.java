package io.elasticmoe.worker.runtime;

import java.util.List;

/**
 * The flags every JVM that runs worker code needs: native access for JCuda/JUCX on Java 25, and the Vector
 * API module that the CPU backend's per-token compute ({@code CombineReducer}, {@link Fp8Codec.RowCaster})
 * is written in. Worker code that starts another worker JVM passes these; the launch scripts, images and
 * the build carry the same list (pom.xml's {@code elasticmoe.jvm.flags}, bin/elasticmoe, the worker image
 * entrypoints, kernels/device/*.sh).
 */
public final class WorkerJvm {

  public static final List<String> FLAGS =
      List.of("--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector");

  private WorkerJvm() {}
}
