package io.elasticmoe.operator.model;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.RendezvousSpec;
import io.elasticmoe.api.v1alpha1.TcpStoreSpec;
import io.elasticmoe.api.v1alpha1.TcpStoreStatus;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyBuilder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The Kubernetes objects of a deployment's TCPStore endpoint (docs/tcpstore.md): a Service that rank
 * pods dial on {@code spec.rendezvous.tcpStore.port}, forwarding to the operator-side listener port,
 * and the NetworkPolicy that admits only this deployment's rank pods to that listener, because the
 * TCPStore protocol has no authentication.
 *
 * <p>Both live in the operator's namespace: a Service selects pods of its own namespace only, and the
 * listener runs in the operator pod. For the same reason they carry no owner reference (owners must
 * share the namespace); the labels {@link #DEPLOYMENT_NAMESPACE} and {@link DeploymentLabels#DEPLOYMENT}
 * name the deployment, so the reconciler deletes them when the deployment goes or disables the field.
 */
public final class TcpStoreResources {
  public static final int DEFAULT_PORT = 29500;
  public static final String DEPLOYMENT_NAMESPACE = "elasticmoe.io/deployment-namespace";
  public static final String COMPONENT = "app.kubernetes.io/component";
  public static final String COMPONENT_VALUE = "tcpstore";
  /**
   * Set (and kept equal to the name) by Kubernetes ≥ 1.21 on every namespace, so a NetworkPolicy
   * peer can name a namespace in a way its users cannot forge. Older API servers (the local v1.20
   * cluster) do not set it; the operator then adds it to the deployment's namespace itself ({@link
   * #namespaceLabelsToAdd}), with the value Kubernetes would give it.
   */
  public static final String NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";
  private static final int MAX_NAME_LENGTH = 63;

  private final ElasticMoEDeployment emd;
  private final OperatorPods operator;
  private final int servicePort;
  private final int listenerPort;

  /**
   * Where the operator runs.
   *
   * @param namespace the operator's namespace
   * @param podLabels labels that select the operator pod (the Helm chart's selector labels)
   */
  public record OperatorPods(String namespace, Map<String, String> podLabels) {
    public OperatorPods {
      if (podLabels.isEmpty()) {
        throw new IllegalArgumentException(
            "the operator pod selector is empty; a TCPStore Service would select every pod of "
                + namespace);
      }
      podLabels = Map.copyOf(podLabels);
    }

    /**
     * Parses a selector of the form {@code key=value,key=value} (the chart passes its pod selector
     * labels in that form).
     */
    public static OperatorPods parse(String namespace, String selector) {
      Map<String, String> labels = new TreeMap<>();
      for (String term : selector.split(",")) {
        if (term.isBlank()) {
          continue;
        }
        int eq = term.indexOf('=');
        if (eq <= 0 || eq == term.length() - 1) {
          throw new IllegalArgumentException(
              "operator pod selector term '" + term.trim() + "' of '" + selector
                  + "' is not key=value");
        }
        labels.put(term.substring(0, eq).trim(), term.substring(eq + 1).trim());
      }
      return new OperatorPods(namespace, labels);
    }
  }

  private TcpStoreResources(
      ElasticMoEDeployment emd, OperatorPods operator, int servicePort, int listenerPort) {
    this.emd = emd;
    this.operator = operator;
    this.servicePort = servicePort;
    this.listenerPort = listenerPort;
  }

  /** Whether the deployment asks for the endpoint (default: no). */
  public static boolean enabled(ElasticMoEDeployment emd) {
    TcpStoreSpec spec = tcpStoreSpec(emd);
    return spec != null && Boolean.TRUE.equals(spec.enabled);
  }

  /**
   * The resources of an enabled endpoint, or empty when the field is off.
   *
   * @param listenerPort the operator-side port the deployment's listener is bound to (unique per
   *     operator, unlike the Service port, which every deployment may leave at 29500)
   */
  public static Optional<TcpStoreResources> fromSpec(
      ElasticMoEDeployment emd, OperatorPods operator, int listenerPort) {
    if (!enabled(emd)) {
      return Optional.empty();
    }
    if (listenerPort < 1 || listenerPort > 65_535) {
      throw new IllegalArgumentException(
          "tcpstore listener port of "
              + emd.getMetadata().getNamespace()
              + "/"
              + emd.getMetadata().getName()
              + " is "
              + listenerPort
              + "; it must be between 1 and 65535");
    }
    Integer port = tcpStoreSpec(emd).port;
    return Optional.of(
        new TcpStoreResources(emd, operator, port == null ? DEFAULT_PORT : port, listenerPort));
  }

  private static TcpStoreSpec tcpStoreSpec(ElasticMoEDeployment emd) {
    RendezvousSpec rendezvous = emd.getSpec() == null ? null : emd.getSpec().rendezvous;
    return rendezvous == null ? null : rendezvous.tcpStore;
  }

  /**
   * {@code tcpstore-<namespace>-<name>}, shortened with a hash suffix when longer than a Service name
   * may be, so two deployments never share one.
   */
  public static String resourceName(String namespace, String name) {
    String full = "tcpstore-" + namespace + "-" + name;
    if (full.length() <= MAX_NAME_LENGTH) {
      return full;
    }
    String hash = sha256Hex(namespace + "/" + name).substring(0, 10);
    return full.substring(0, MAX_NAME_LENGTH - hash.length() - 1).replaceAll("-+$", "") + "-" + hash;
  }

  public int servicePort() {
    return servicePort;
  }

  public int listenerPort() {
    return listenerPort;
  }

  public String name() {
    return resourceName(emd.getMetadata().getNamespace(), emd.getMetadata().getName());
  }

  private Map<String, String> labels() {
    return Map.of(
        COMPONENT, COMPONENT_VALUE,
        DEPLOYMENT_NAMESPACE, emd.getMetadata().getNamespace(),
        DeploymentLabels.DEPLOYMENT, emd.getMetadata().getName());
  }

  /** Both objects live beside the operator pod they select, named and labelled for this deployment. */
  private ObjectMeta metadata() {
    return new ObjectMetaBuilder().withName(name()).withNamespace(operator.namespace()).withLabels(labels()).build();
  }

  public Service generateService() {
    return new ServiceBuilder()
        .withMetadata(metadata())
        .withNewSpec()
        .withType("ClusterIP")
        .withSelector(operator.podLabels())
        .addNewPort()
        .withName("tcpstore")
        .withProtocol("TCP")
        .withPort(servicePort)
        .withTargetPort(new IntOrString(listenerPort))
        .endPort()
        .endSpec()
        .build();
  }

  /** Admits TCP to the listener port only from this deployment's rank pods, in its namespace. */
  public NetworkPolicy generateNetworkPolicy() {
    return new NetworkPolicyBuilder()
        .withMetadata(metadata())
        .withNewSpec()
        .withNewPodSelector()
        .withMatchLabels(operator.podLabels())
        .endPodSelector()
        .withPolicyTypes("Ingress")
        .addNewIngress()
        // One peer with both selectors: pods with the deployment's labels AND in its namespace.
        .addNewFrom()
        .withNewNamespaceSelector()
        .withMatchLabels(Map.of(NAMESPACE_NAME_LABEL, emd.getMetadata().getNamespace()))
        .endNamespaceSelector()
        .withNewPodSelector()
        .withMatchLabels(DeploymentLabels.forDeployment(emd.getMetadata().getName()))
        .endPodSelector()
        .endFrom()
        .addNewPort()
        .withProtocol("TCP")
        .withPort(new IntOrString(listenerPort))
        .endPort()
        .endIngress()
        .endSpec()
        .build();
  }

  /**
   * Labels to add to the deployment's namespace so that {@link #generateNetworkPolicy} can select it:
   * {@link #NAMESPACE_NAME_LABEL} when it is missing or wrong (only possible before Kubernetes 1.21),
   * else nothing.
   */
  public static Map<String, String> namespaceLabelsToAdd(
      String namespace, Map<String, String> namespaceLabels) {
    if (namespaceLabels != null && namespace.equals(namespaceLabels.get(NAMESPACE_NAME_LABEL))) {
      return Map.of();
    }
    return Map.of(NAMESPACE_NAME_LABEL, namespace);
  }

  /** What status.tcpStore reports once the Service has its ClusterIP. */
  public TcpStoreStatus generateStatus(String clusterIp) {
    return new TcpStoreStatus(operator.namespace() + "/" + name(), clusterIp + ":" + servicePort, listenerPort);
  }

  private static String sha256Hex(String text) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK provides SHA-256", e);
    }
  }
}
