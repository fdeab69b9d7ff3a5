package io.elasticmoe.operator.model;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentSpec;
import io.elasticmoe.api.v1alpha1.ModelSpec;
import io.elasticmoe.api.v1alpha1.PlacementSpec;
import io.elasticmoe.api.v1alpha1.WorkerSpec;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.TopologySpreadConstraint;
import io.fabric8.kubernetes.api.model.TopologySpreadConstraintBuilder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The worker pod of one rank. Identity that never changes for a rank (deployment, rank, rendezvous
 * address, credential) is environment; world size and peers change, so workers get them from the
 * rendezvous Watch stream instead.
 */
public final class RankPodTemplate {
  public static final String CONTAINER = "worker";
  /** Annotation carrying a hash of the template, so a changed spec can be rolled out rank by rank. */
  public static final String TEMPLATE_HASH = "elasticmoe.io/template-hash";

  static final String DEFAULT_TOKENS = "128";
  static final String DEFAULT_SPREAD_KEY = "kubernetes.io/hostname";
  static final long TERMINATION_GRACE_SECONDS = 30;

  private final ElasticMoEDeployment emd;
  private final String rendezvousAddress;
  private final String credentialSecret;
  private final String tcpStoreAddress;
  private final String rendezvousServerName;

  private RankPodTemplate(
      ElasticMoEDeployment emd, String rendezvousAddress, String credentialSecret, String tcpStoreAddress,
      String rendezvousServerName) {
    this.emd = emd;
    this.rendezvousAddress = rendezvousAddress;
    this.credentialSecret = credentialSecret;
    this.tcpStoreAddress = tcpStoreAddress;
    this.rendezvousServerName = rendezvousServerName;
  }

  /**
   * @param rendezvousAddress host:port of the operator's rendezvous gRPC service, as pods reach it
   * @param credentialSecret the Secret holding this deployment's rendezvous credential (key {@code token})
   */
  public static RankPodTemplate fromCrd(ElasticMoEDeployment emd, String rendezvousAddress, String credentialSecret) {
    return new RankPodTemplate(emd, rendezvousAddress, credentialSecret, null, null);
  }

  /**
   * The same template, whose pods also get the deployment's TCPStore endpoint (status.tcpStore.address,
   * {@code host:port}) as EMD_TCPSTORE_HOST and EMD_TCPSTORE_PORT. Not MASTER_ADDR/MASTER_PORT: with
   * those, PyTorch's {@code env://} makes rank 0 start a TCPStore server of its own; a user who wants
   * them maps them in worker.env ({@code $(EMD_TCPSTORE_HOST)}).
   */
  public RankPodTemplate withTcpStoreAddress(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    if (colon <= 0 || colon == hostPort.length() - 1) {
      throw new IllegalArgumentException("TCPStore address '" + hostPort + "' is not host:port");
    }
    return new RankPodTemplate(emd, rendezvousAddress, credentialSecret, hostPort, rendezvousServerName);
  }

  /**
   * The same template for a rendezvous that speaks TLS: pods trust the CA in the credential Secret
   * (key {@code ca.crt}, as EMD_RENDEZVOUS_CA) and check the server certificate against
   * {@code serverName} (EMD_RENDEZVOUS_SERVER_NAME), the Service's DNS name: they dial its ClusterIP,
   * which the certificate does not name, since no cluster DNS is assumed.
   */
  public RankPodTemplate withRendezvousTls(String serverName) {
    return new RankPodTemplate(emd, rendezvousAddress, credentialSecret, tcpStoreAddress, serverName);
  }

  public static String podName(String deploymentName, int rank) {
    return deploymentName + "-rank-" + rank;
  }

  public Pod generatePod(int rank) {
    ElasticMoEDeploymentSpec spec = emd.getSpec();
    String name = emd.getMetadata().getName();
    Map<String, String> labels = new HashMap<>(DeploymentLabels.forDeployment(name));
    labels.put(DeploymentLabels.RANK, Integer.toString(rank));
    WorkerSpec worker = spec.worker;
    return new PodBuilder()
        .withNewMetadata()
        .withName(podName(name, rank))
        .withNamespace(emd.getMetadata().getNamespace())
        .withLabels(labels)
        .withAnnotations(Map.of(TEMPLATE_HASH, templateHash()))
        .withOwnerReferences(Ownership.controlledBy(emd))
        .endMetadata()
        .withNewSpec()
        .withHostname(podName(name, rank))
        .withRestartPolicy("Always")
        .withTerminationGracePeriodSeconds(TERMINATION_GRACE_SECONDS)
        .withNodeSelector(worker.nodeSelector)
        .withTopologySpreadConstraints(spreadOverFailureDomains(name))
        .withContainers(
            new ContainerBuilder()
                .withName(CONTAINER)
                .withImage(worker.image)
                .withImagePullPolicy(worker.imagePullPolicy == null ? null : worker.imagePullPolicy.name())
                .withArgs("run")
                .withEnv(env(rank))
                .withResources(worker.resources == null ? new ResourceRequirements() : worker.resources)
                .build())
        .endSpec()
        .build();
  }

  /**
   * Ranks spread over placement.spreadKey domains, so one node's loss takes as few ranks (and expert
   * replicas) as possible. ScheduleAnyway: a full domain must not keep a rank from starting.
   */
  private TopologySpreadConstraint spreadOverFailureDomains(String name) {
    PlacementSpec placement = emd.getSpec().placement;
    String key = placement == null || placement.spreadKey == null ? DEFAULT_SPREAD_KEY : placement.spreadKey;
    return new TopologySpreadConstraintBuilder()
        .withMaxSkew(1)
        .withTopologyKey(key)
        .withWhenUnsatisfiable("ScheduleAnyway")
        .withNewLabelSelector()
        .withMatchLabels(Map.of(DeploymentLabels.DEPLOYMENT, name))
        .endLabelSelector()
        .build();
  }

  private List<EnvVar> env(int rank) {
    ElasticMoEDeploymentSpec spec = emd.getSpec();
    ModelSpec model = spec.model;
    List<EnvVar> env = new ArrayList<>();
    env.add(plain("EMD_NAME", emd.getMetadata().getName()));
    env.add(
        new EnvVarBuilder().withName("EMD_NAMESPACE").withNewValueFrom().withNewFieldRef()
            .withFieldPath("metadata.namespace").endFieldRef().endValueFrom().build());
    env.add(
        new EnvVarBuilder().withName("EMD_POD_UID").withNewValueFrom().withNewFieldRef()
            .withFieldPath("metadata.uid").endFieldRef().endValueFrom().build());
    env.add(
        new EnvVarBuilder().withName("EMD_POD_IP").withNewValueFrom().withNewFieldRef()
            .withFieldPath("status.podIP").endFieldRef().endValueFrom().build());
    env.add(
        new EnvVarBuilder().withName("EMD_NODE_NAME").withNewValueFrom().withNewFieldRef()
            .withFieldPath("spec.nodeName").endFieldRef().endValueFrom().build());
    env.add(plain("EMD_RANK", Integer.toString(rank)));
    env.add(plain("EMD_RENDEZVOUS", rendezvousAddress));
    env.add(
        new EnvVarBuilder().withName("EMD_TOKEN").withNewValueFrom().withNewSecretKeyRef()
            .withName(credentialSecret).withKey(RendezvousCredential.TOKEN_KEY).endSecretKeyRef().endValueFrom()
            .build());
    if (rendezvousServerName != null) {
      env.add(
          new EnvVarBuilder().withName("EMD_RENDEZVOUS_CA").withNewValueFrom().withNewSecretKeyRef()
              .withName(credentialSecret).withKey(RendezvousCredential.CA_CERTIFICATE_KEY).endSecretKeyRef()
              .endValueFrom().build());
      env.add(plain("EMD_RENDEZVOUS_SERVER_NAME", rendezvousServerName));
    }
    if (tcpStoreAddress != null) {
      int colon = tcpStoreAddress.lastIndexOf(':');
      env.add(plain("EMD_TCPSTORE_HOST", tcpStoreAddress.substring(0, colon)));
      env.add(plain("EMD_TCPSTORE_PORT", tcpStoreAddress.substring(colon + 1)));
    }
    env.add(plain("EMD_BACKEND", spec.worker.backend == null ? "cuda" : spec.worker.backend.name()));
    env.add(plain("EMD_MAX_RANKS", Integer.toString(spec.maxRanks)));
    env.add(plain("EMD_NUM_EXPERTS", Integer.toString(model.numExperts)));
    env.add(plain("EMD_REDUNDANT_EXPERTS", String.valueOf(model.redundantExperts == null ? 0 : model.redundantExperts)));
    env.add(plain("EMD_HIDDEN", Integer.toString(model.hidden)));
    env.add(plain("EMD_TOPK", Integer.toString(model.topK)));
    env.add(plain("EMD_MAX_DISPATCH_TOKENS_PER_RANK",
        model.maxDispatchTokensPerRank == null ? DEFAULT_TOKENS : model.maxDispatchTokensPerRank.toString()));
    env.add(plain("EMD_DISPATCH_DTYPE", model.dispatchDtype == null ? "fp8" : model.dispatchDtype.name()));
    // Pods do not share an IPC namespace, so UCX's shared-memory transports cannot reach a peer pod
    // even on the same node: TCP over the pod network is what works between rank pods.
    env.add(plain("UCX_TLS", "tcp,self"));
    if (spec.worker.env != null) {
      // A user's variable of the same name replaces ours rather than being listed twice.
      spec.worker.env.forEach(user -> env.removeIf(e -> e.getName().equals(user.getName())));
      env.addAll(spec.worker.env);
    }
    return env;
  }

  /** Changes when anything that shapes a rank pod changes; the rank itself is not part of it. */
  public String templateHash() {
    ElasticMoEDeploymentSpec spec = emd.getSpec();
    String shape = String.join("|",
        String.valueOf(spec.worker.image), String.valueOf(spec.worker.backend), String.valueOf(spec.worker.resources),
        String.valueOf(spec.worker.env), String.valueOf(spec.worker.nodeSelector), String.valueOf(spec.maxRanks),
        String.valueOf(spec.model.numExperts), String.valueOf(spec.model.redundantExperts),
        String.valueOf(spec.model.hidden), String.valueOf(spec.model.topK),
        String.valueOf(spec.model.maxDispatchTokensPerRank), String.valueOf(spec.model.dispatchDtype),
        rendezvousAddress);
    // Appended only when set, so pods of deployments without the endpoint keep their hash.
    if (tcpStoreAddress != null) {
      shape += "|" + tcpStoreAddress;
    }
    if (rendezvousServerName != null) {
      shape += "|tls:" + rendezvousServerName;
    }
    return Integer.toHexString(shape.hashCode());
  }

  private static EnvVar plain(String name, String value) {
    return new EnvVar(name, value, null);
  }
}
