package io.elasticmoe.operator.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentSpec;
import io.elasticmoe.api.v1alpha1.RendezvousSpec;
import io.elasticmoe.api.v1alpha1.TcpStoreSpec;
import io.elasticmoe.api.v1alpha1.TcpStoreStatus;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TcpStoreResourcesTest {
  private static final Map<String, String> OPERATOR_LABELS =
      Map.of("app.kubernetes.io/name", "elasticmoe-operator", "app.kubernetes.io/instance", "emd");
  private static final TcpStoreResources.OperatorPods OPERATOR =
      new TcpStoreResources.OperatorPods("elasticmoe-system", OPERATOR_LABELS);

  private static ElasticMoEDeployment emd(String namespace, String name, TcpStoreSpec tcpStore) {
    ElasticMoEDeployment emd = new ElasticMoEDeployment();
    emd.setMetadata(new ObjectMetaBuilder().withNamespace(namespace).withName(name).withUid("u-1").build());
    ElasticMoEDeploymentSpec spec = new ElasticMoEDeploymentSpec();
    if (tcpStore != null) {
      spec.rendezvous = new RendezvousSpec();
      spec.rendezvous.tcpStore = tcpStore;
    }
    emd.setSpec(spec);
    return emd;
  }

  private static TcpStoreSpec tcpStore(Boolean enabled, Integer port) {
    TcpStoreSpec spec = new TcpStoreSpec();
    spec.enabled = enabled;
    spec.port = port;
    return spec;
  }

  @Test
  void endpointIsOffUnlessEnabledIsTrue() {
    assertThat(TcpStoreResources.fromSpec(emd("team-a", "llm", null), OPERATOR, 30001)).isEmpty();
    assertThat(TcpStoreResources.fromSpec(emd("team-a", "llm", tcpStore(null, 29500)), OPERATOR, 30001))
        .isEmpty();
    assertThat(TcpStoreResources.fromSpec(emd("team-a", "llm", tcpStore(false, null)), OPERATOR, 30001))
        .isEmpty();
  }

  @Test
  void serviceForwardsTheSpecPortToTheOperatorListener() {
    Service service =
        TcpStoreResources.fromSpec(emd("team-a", "llm", tcpStore(true, 29600)), OPERATOR, 30001)
            .orElseThrow()
            .generateService();
    assertThat(service.getMetadata().getName()).isEqualTo("tcpstore-team-a-llm");
    assertThat(service.getMetadata().getNamespace()).isEqualTo("elasticmoe-system");
    assertThat(service.getMetadata().getLabels())
        .containsEntry(TcpStoreResources.DEPLOYMENT_NAMESPACE, "team-a")
        .containsEntry(DeploymentLabels.DEPLOYMENT, "llm");
    assertThat(service.getSpec().getSelector()).isEqualTo(OPERATOR_LABELS);
    assertThat(service.getSpec().getPorts()).singleElement().satisfies(port -> {
      assertThat(port.getPort()).isEqualTo(29600);
      assertThat(port.getTargetPort().getIntVal()).isEqualTo(30001);
      assertThat(port.getProtocol()).isEqualTo("TCP");
    });
  }

  @Test
  void portDefaultsTo29500() {
    TcpStoreResources resources =
        TcpStoreResources.fromSpec(emd("team-a", "llm", tcpStore(true, null)), OPERATOR, 30001)
            .orElseThrow();
    assertThat(resources.servicePort()).isEqualTo(TcpStoreResources.DEFAULT_PORT).isEqualTo(29500);
  }

  @Test
  void networkPolicyAdmitsOnlyThisDeploymentsRankPodsToTheListenerPort() {
    NetworkPolicy policy =
        TcpStoreResources.fromSpec(emd("team-a", "llm", tcpStore(true, 29500)), OPERATOR, 30001)
            .orElseThrow()
            .generateNetworkPolicy();
    assertThat(policy.getMetadata().getNamespace()).isEqualTo("elasticmoe-system");
    assertThat(policy.getSpec().getPodSelector().getMatchLabels()).isEqualTo(OPERATOR_LABELS);
    assertThat(policy.getSpec().getPolicyTypes()).containsExactly("Ingress");
    NetworkPolicyIngressRule rule = policy.getSpec().getIngress().get(0);
    assertThat(policy.getSpec().getIngress()).hasSize(1);
    assertThat(rule.getPorts()).singleElement().satisfies(port -> {
      assertThat(port.getPort().getIntVal()).isEqualTo(30001);
      assertThat(port.getProtocol()).isEqualTo("TCP");
    });
    NetworkPolicyPeer peer = rule.getFrom().get(0);
    assertThat(rule.getFrom()).as("one peer: both selectors must match").hasSize(1);
    assertThat(peer.getNamespaceSelector().getMatchLabels())
        .isEqualTo(Map.of("kubernetes.io/metadata.name", "team-a"));
    assertThat(peer.getPodSelector().getMatchLabels())
        .isEqualTo(DeploymentLabels.forDeployment("llm"));
  }

  @Test
  void longNamesAreShortenedToAServiceNameWithADistinguishingHash() {
    String ns = "a-very-long-namespace-name-for-a-team";
    String a = TcpStoreResources.resourceName(ns, "deepseek-v3-expert-parallel-serving-a");
    String b = TcpStoreResources.resourceName(ns, "deepseek-v3-expert-parallel-serving-b");
    assertThat(a).hasSizeLessThanOrEqualTo(63).matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
    assertThat(b).hasSizeLessThanOrEqualTo(63).isNotEqualTo(a);
    assertThat(TcpStoreResources.resourceName("team-a", "llm")).isEqualTo("tcpstore-team-a-llm");
  }

  @Test
  void listenerPortOutsideTheTcpRangeIsRefusedWithTheDeploymentAndValue() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> TcpStoreResources.fromSpec(emd("team-a", "llm", tcpStore(true, 29500)), OPERATOR, 0));
    assertThat(e)
        .hasMessage("tcpstore listener port of team-a/llm is 0; it must be between 1 and 65535");
  }

  @Test
  void namespaceGetsTheNameLabelOnlyWhenKubernetesDidNotSetIt() {
    assertThat(TcpStoreResources.namespaceLabelsToAdd("team-a", null))
        .isEqualTo(Map.of("kubernetes.io/metadata.name", "team-a"));
    assertThat(TcpStoreResources.namespaceLabelsToAdd("team-a", Map.of("owner", "x")))
        .as("a v1.20 namespace")
        .isEqualTo(Map.of("kubernetes.io/metadata.name", "team-a"));
    assertThat(TcpStoreResources.namespaceLabelsToAdd("team-a", Map.of("kubernetes.io/metadata.name", "team-b")))
        .as("a forged value is corrected, else team-b's policy peers would match team-a")
        .isEqualTo(Map.of("kubernetes.io/metadata.name", "team-a"));
    assertThat(TcpStoreResources.namespaceLabelsToAdd("team-a", Map.of("kubernetes.io/metadata.name", "team-a")))
        .as("Kubernetes >= 1.21 set it")
        .isEmpty();
  }

  @Test
  void statusNamesTheServiceAndTheAddressPodsDial() {
    TcpStoreStatus status =
        TcpStoreResources.fromSpec(emd("team-a", "llm", tcpStore(true, 29600)), OPERATOR, 30001)
            .orElseThrow()
            .generateStatus("10.0.0.17");
    assertThat(status.service).isEqualTo("elasticmoe-system/tcpstore-team-a-llm");
    assertThat(status.address).isEqualTo("10.0.0.17:29600");
    assertThat(status.listenerPort).isEqualTo(30001);
  }

  @Test
  void operatorPodSelectorIsParsedFromKeyValuePairs() {
    TcpStoreResources.OperatorPods pods =
        TcpStoreResources.OperatorPods.parse(
            "ops", "app.kubernetes.io/name=elasticmoe-operator, app.kubernetes.io/instance=emd");
    assertThat(pods.podLabels()).isEqualTo(OPERATOR_LABELS);
    assertThat(pods.namespace()).isEqualTo("ops");
    IllegalArgumentException bad =
        assertThrows(IllegalArgumentException.class, () -> TcpStoreResources.OperatorPods.parse("ops", "a=b,c"));
    assertThat(bad).hasMessage("operator pod selector term 'c' of 'a=b,c' is not key=value");
    IllegalArgumentException empty =
        assertThrows(IllegalArgumentException.class, () -> TcpStoreResources.OperatorPods.parse("ops", ""));
    assertThat(empty).hasMessageContaining("would select every pod of ops");
  }
}
