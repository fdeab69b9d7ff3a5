package io.elasticmoe.e2e.cluster;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import java.util.List;
import java.util.Map;

/** Pod specs for the cluster tests, all from images the cluster built and loaded itself. */
final class Pods {
  private Pods() {}

  /** The testbox HTTP echo server on port 8080 (exits promptly on SIGTERM). */
  static PodBuilder echo(String name) {
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .withLabels(Map.of("app", name))
        .endMetadata()
        .withNewSpec()
        .withContainers(
            new ContainerBuilder()
                .withName("echo")
                .withImage(LocalCluster.TESTBOX)
                .withImagePullPolicy("Never")
                .addNewPort()
                .withContainerPort(8080)
                .endPort()
                .withNewReadinessProbe()
                .withNewHttpGet()
                .withPath("/ready")
                .withNewPort(8080)
                .endHttpGet()
                .withPeriodSeconds(1)
                .endReadinessProbe()
                .build())
        .endSpec();
  }

  /** A testbox pod running a busybox shell script once (restartPolicy Never). */
  static PodBuilder shell(String name, String script) {
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .endMetadata()
        .withNewSpec()
        .withRestartPolicy("Never")
        .withContainers(
            new ContainerBuilder()
                .withName("sh")
                .withImage(LocalCluster.TESTBOX)
                .withImagePullPolicy("Never")
                .withCommand("/bin/sh", "-c", script)
                .build())
        .endSpec();
  }

  /** A pod that sleeps and asks for {@code gpus} nvidia.com/gpu (requests = limits). */
  static Pod gpuSleeper(String name, int gpus) {
    Quantity q = new Quantity(Integer.toString(gpus));
    return shell(name, "sleep 3600")
        .editSpec()
        .withRestartPolicy("Always")
        .withTerminationGracePeriodSeconds(0L)
        .editFirstContainer()
        .withResources(
            new ResourceRequirementsBuilder()
                .withRequests(Map.of(LocalCluster.GPU, q))
                .withLimits(Map.of(LocalCluster.GPU, q))
                .build())
        .endContainer()
        .endSpec()
        .build();
  }

  static List<String> args(String... a) {
    return List.of(a);
  }
}
