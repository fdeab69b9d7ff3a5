package io.elasticmoe.operator.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

public class RankPodTemplateTest {

  public static ElasticMoEDeployment deployment() {
    ElasticMoEDeployment emd = new ElasticMoEDeployment();
    emd.getMetadata().setName("moe");
    emd.getMetadata().setNamespace("team-a");
    emd.getMetadata().setUid("uid-1");
    emd.setSpec(SpecValidatorTest.validSpec());
    return emd;
  }

  @Test
  void podCarriesRankIdentityAndIsOwnedByItsDeployment() {
    Pod pod = RankPodTemplate.fromCrd(deployment(), "10.0.0.7:9090", "moe-rendezvous").generatePod(3);

    assertThat(pod.getMetadata().getName()).isEqualTo("moe-rank-3");
    assertThat(pod.getMetadata().getNamespace()).isEqualTo("team-a");
    assertThat(pod.getMetadata().getLabels())
        .containsEntry("elasticmoe.io/deployment", "moe")
        .containsEntry("elasticmoe.io/rank", "3")
        .containsEntry("app.kubernetes.io/name", "elasticmoe-worker");
    assertThat(pod.getMetadata().getOwnerReferences()).singleElement().satisfies(owner -> {
      assertThat(owner.getUid()).isEqualTo("uid-1");
      assertThat(owner.getController()).isTrue();
    });
    Container worker = pod.getSpec().getContainers().get(0);
    assertThat(worker.getImage()).isEqualTo("elasticmoe/worker:dev");
    assertThat(worker.getArgs()).containsExactly("run");
    Map<String, EnvVar> env = worker.getEnv().stream().collect(Collectors.toMap(EnvVar::getName, e -> e));
    assertThat(env.get("EMD_RANK").getValue()).isEqualTo("3");
    assertThat(env.get("EMD_NAME").getValue()).isEqualTo("moe");
    assertThat(env.get("EMD_RENDEZVOUS").getValue()).isEqualTo("10.0.0.7:9090");
    assertThat(env.get("EMD_TOKEN").getValueFrom().getSecretKeyRef().getName()).isEqualTo("moe-rendezvous");
    assertThat(env.get("EMD_POD_UID").getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.uid");
    assertThat(env.get("EMD_HIDDEN").getValue()).isEqualTo("512");
    assertThat(env.get("EMD_NODE_NAME").getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
    assertThat(env).doesNotContainKey("EMD_WORLD_SIZE");
    assertThat(pod.getSpec().getTopologySpreadConstraints()).singleElement().satisfies(spread -> {
      assertThat(spread.getTopologyKey()).isEqualTo("kubernetes.io/hostname");
      assertThat(spread.getLabelSelector().getMatchLabels()).containsEntry("elasticmoe.io/deployment", "moe");
    });
  }

  @Test
  void tcpStoreEndpointIsPassedAsEnvOnlyWhenServed() {
    RankPodTemplate plain = RankPodTemplate.fromCrd(deployment(), "10.0.0.7:9090", "moe-rendezvous");
    RankPodTemplate withStore = plain.withTcpStoreAddress("10.0.0.42:29500");

    Map<String, String> env = withStore.generatePod(1).getSpec().getContainers().get(0).getEnv().stream()
        .filter(e -> e.getValue() != null).collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
    assertThat(env).containsEntry("EMD_TCPSTORE_HOST", "10.0.0.42").containsEntry("EMD_TCPSTORE_PORT", "29500");
    assertThat(env).as("PyTorch's env:// would make rank 0 a server").doesNotContainKeys("MASTER_ADDR", "MASTER_PORT");
    assertThat(plain.generatePod(1).getSpec().getContainers().get(0).getEnv())
        .extracting(EnvVar::getName).doesNotContain("EMD_TCPSTORE_HOST", "EMD_TCPSTORE_PORT");
    assertThat(withStore.templateHash()).isNotEqualTo(plain.templateHash());
    assertThat(assertThrows(IllegalArgumentException.class, () -> plain.withTcpStoreAddress("10.0.0.42")))
        .hasMessage("TCPStore address '10.0.0.42' is not host:port");
  }

  @Test
  void userEnvironmentOverridesOurDefaults() {
    ElasticMoEDeployment emd = deployment();
    emd.getSpec().worker.env = java.util.List.of(new EnvVar("UCX_TLS", "tcp,sysv", null), new EnvVar("X", "1", null));

    Pod pod = RankPodTemplate.fromCrd(emd, "10.0.0.7:9090", "moe-rendezvous").generatePod(0);

    var env = pod.getSpec().getContainers().get(0).getEnv();
    assertThat(env).filteredOn(e -> e.getName().equals("UCX_TLS")).singleElement()
        .extracting(EnvVar::getValue).isEqualTo("tcp,sysv");
    assertThat(env).extracting(EnvVar::getName).contains("X", "EMD_RANK");
  }

  @Test
  void templateHashIgnoresTheRankButFollowsTheImage() {
    ElasticMoEDeployment emd = deployment();
    RankPodTemplate template = RankPodTemplate.fromCrd(emd, "10.0.0.7:9090", "moe-rendezvous");
    String before = template.templateHash();
    assertThat(template.generatePod(0).getMetadata().getAnnotations().get(RankPodTemplate.TEMPLATE_HASH))
        .isEqualTo(template.generatePod(5).getMetadata().getAnnotations().get(RankPodTemplate.TEMPLATE_HASH));

    emd.getSpec().worker.image = "elasticmoe/worker:v2";

    assertThat(RankPodTemplate.fromCrd(emd, "10.0.0.7:9090", "moe-rendezvous").templateHash()).isNotEqualTo(before);
  }

  @Test
  void tlsRendezvousGivesPodsTheCaFromTheCredentialSecretAndTheNameToVerify() {
    RankPodTemplate plain = RankPodTemplate.fromCrd(deployment(), "10.0.0.7:9090", "moe-rendezvous");
    RankPodTemplate tls = plain.withRendezvousTls("elasticmoe-operator.elasticmoe-system.svc");

    Map<String, EnvVar> env = tls.generatePod(1).getSpec().getContainers().get(0).getEnv().stream()
        .collect(Collectors.toMap(EnvVar::getName, e -> e));
    assertThat(env.get("EMD_RENDEZVOUS_CA").getValueFrom().getSecretKeyRef().getName()).isEqualTo("moe-rendezvous");
    assertThat(env.get("EMD_RENDEZVOUS_CA").getValueFrom().getSecretKeyRef().getKey()).isEqualTo("ca.crt");
    assertThat(env.get("EMD_RENDEZVOUS_SERVER_NAME").getValue()).isEqualTo("elasticmoe-operator.elasticmoe-system.svc");
    assertThat(env.get("EMD_RENDEZVOUS").getValue()).isEqualTo("10.0.0.7:9090");
    assertThat(plain.generatePod(1).getSpec().getContainers().get(0).getEnv())
        .extracting(EnvVar::getName).doesNotContain("EMD_RENDEZVOUS_CA", "EMD_RENDEZVOUS_SERVER_NAME");
    // Turning TLS on or off changes what every rank pod needs, so it changes the template.
    assertThat(tls.templateHash()).isNotEqualTo(plain.templateHash());
  }
}
