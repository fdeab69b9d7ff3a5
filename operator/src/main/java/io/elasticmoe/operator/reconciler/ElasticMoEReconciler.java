package io.elasticmoe.operator.reconciler;

import io.elasticmoe.api.v1alpha1.ConditionReason;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentStatus;
import io.elasticmoe.api.v1alpha1.TcpStoreStatus;
import io.elasticmoe.operator.credentials.CredentialSecretManager;
import io.elasticmoe.operator.events.EventRecorder;
import io.elasticmoe.operator.model.DeploymentLabels;
import io.elasticmoe.operator.model.RankPodTemplate;
import io.elasticmoe.operator.model.RendezvousPlan;
import io.elasticmoe.operator.nodes.NodeFailureDomains;
import io.elasticmoe.operator.rendezvous.RendezvousRegistry;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.PodCondition;
import io.elasticmoe.operator.tls.RendezvousTls;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import io.elasticmoe.operator.model.RendezvousCredential;
import io.elasticmoe.operator.model.ScalePlan;
import io.elasticmoe.operator.model.ScalePlanner;
import io.elasticmoe.operator.model.SpecValidator;
import io.elasticmoe.operator.pods.RankPodManager;
import io.fabric8.kubernetes.api.model.Pod;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import org.jboss.logging.Logger;

/**
 * Reconciles an {@link ElasticMoEDeployment} into one worker pod per rank. The order of the calls in
 * {@link #reconcile} is the order of the work; each step is one method.
 */
@ControllerConfiguration(name = "elasticmoedeployment")
public class ElasticMoEReconciler implements Reconciler<ElasticMoEDeployment>, Cleaner<ElasticMoEDeployment> {
  private static final Logger LOG = Logger.getLogger(ElasticMoEReconciler.class);
  private static final Duration RENDEZVOUS_RETRY = Duration.ofSeconds(5);

  private final EventRecorder events;
  private final Clock clock;
  private final CredentialSecretManager credentials;
  private final RankPodManager rankPods;
  private final RendezvousEndpoint rendezvous;
  private final RendezvousRegistry registry;
  private final NodeFailureDomains failureDomains;
  private final TcpStoreLifecycle tcpStore;
  private final RendezvousTls tls;

  public ElasticMoEReconciler(
      EventRecorder events,
      Clock clock,
      CredentialSecretManager credentials,
      RankPodManager rankPods,
      RendezvousEndpoint rendezvous,
      RendezvousRegistry registry,
      NodeFailureDomains failureDomains,
      TcpStoreLifecycle tcpStore,
      RendezvousTls tls) {
    this.events = events;
    this.clock = clock;
    this.credentials = credentials;
    this.rankPods = rankPods;
    this.rendezvous = rendezvous;
    this.registry = registry;
    this.failureDomains = failureDomains;
    this.tcpStore = tcpStore;
    this.tls = tls;
  }

  @Override
  public List<EventSource<?, ElasticMoEDeployment>> prepareEventSources(
      EventSourceContext<ElasticMoEDeployment> context) {
    // Rank pods are owned by their deployment; any change to one reconciles its owner.
    var rankPodEvents =
        InformerEventSourceConfiguration.from(Pod.class, ElasticMoEDeployment.class)
            .withLabelSelector(DeploymentLabels.NAME + "=" + DeploymentLabels.WORKER)
            .build();
    return List.of(new InformerEventSource<>(rankPodEvents, context));
  }

  @Override
  public UpdateControl<ElasticMoEDeployment> reconcile(
      ElasticMoEDeployment emd, Context<ElasticMoEDeployment> context) {
    List<String> problems = SpecValidator.validate(emd.getSpec());
    if (!problems.isEmpty()) {
      return rejectInvalidSpec(emd, problems);
    }
    Optional<String> rendezvousAddress = rendezvous.address();
    if (rendezvousAddress.isEmpty()) {
      String message = "the rendezvous address is unknown: " + rendezvous.describe() + " has no ClusterIP yet";
      return reportStatus(emd, StatusBuilder.rendezvousUnavailable(emd, message, clock.instant()))
          .rescheduleAfter(RENDEZVOUS_RETRY);
    }
    String token = credentials.ensureToken(emd);
    Map<Integer, Pod> podsByRank = rankPodsByRank(context);
    ScalePlan plan = ScalePlanner.plan(emd.getSpec(), podsByRank.keySet());
    warnIfScaleBlocked(emd, plan);
    // The rendezvous learns the plan before pods change, so a leaving rank is drained, not lost.
    planRendezvous(emd, plan, token, podsByRank);
    reportPodStatesToRendezvous(emd, podsByRank);
    // Before pods are created: they get the endpoint's address as env.
    Optional<TcpStoreStatus> tcpStoreEndpoint = tcpStore.reconcile(emd);
    createMissingRankPods(emd, plan, rendezvousAddress.get(), tcpStoreEndpoint);
    removeSurplusRankPods(emd, plan, podsByRank);
    ElasticMoEDeploymentStatus status = observedStatus(emd, plan, podsByRank);
    status.tcpStore = tcpStoreEndpoint.orElse(null);
    return reportStatus(emd, status);
  }

  private UpdateControl<ElasticMoEDeployment> rejectInvalidSpec(ElasticMoEDeployment emd, List<String> problems) {
    ElasticMoEDeploymentStatus status = StatusBuilder.invalidSpec(emd, problems, clock.instant());
    if (!Objects.equals(emd.getMetadata().getGeneration(), previousObservedGeneration(emd))) {
      // One event per generation: a retry of the same bad spec says nothing new.
      events.warning(emd, ConditionReason.InvalidSpec.name(), String.join("; ", problems));
      LOG.warnf("%s: invalid spec: %s", ref(emd), problems);
    }
    return reportStatus(emd, status);
  }

  private static Map<Integer, Pod> rankPodsByRank(Context<ElasticMoEDeployment> context) {
    Map<Integer, Pod> byRank = new TreeMap<>();
    for (Pod pod : context.getSecondaryResources(Pod.class)) {
      if (pod.getMetadata().getDeletionTimestamp() == null) {
        RankPodManager.rankOf(pod).ifPresent(rank -> byRank.put(rank, pod));
      }
    }
    return byRank;
  }

  private void planRendezvous(ElasticMoEDeployment emd, ScalePlan plan, String token, Map<Integer, Pod> podsByRank) {
    String spreadKey = emd.getSpec().placement == null || emd.getSpec().placement.spreadKey == null
        ? "kubernetes.io/hostname" : emd.getSpec().placement.spreadKey;
    Map<Integer, String> nodeByRank = new TreeMap<>();
    podsByRank.forEach((rank, pod) -> {
      if (pod.getSpec().getNodeName() != null) {
        nodeByRank.put(rank, pod.getSpec().getNodeName());
      }
    });
    Map<String, String> domainByNode = failureDomains.domains(nodeByRank.values(), spreadKey);
    Map<Integer, String> domainByRank = new TreeMap<>();
    nodeByRank.forEach((rank, node) -> domainByRank.put(rank, domainByNode.get(node)));
    registry.upsert(key(emd), RendezvousPlan.fromSpec(emd.getSpec(), plan, sha256(token), domainByRank));
  }

  /** Pod state confirms or clears a rank the rendezvous suspects from missed heartbeats. */
  private void reportPodStatesToRendezvous(ElasticMoEDeployment emd, Map<Integer, Pod> podsByRank) {
    DeploymentKey key = key(emd);
    Map<Integer, String> uidByRank = new TreeMap<>();
    podsByRank.forEach((rank, pod) -> {
      uidByRank.put(rank, pod.getMetadata().getUid());
      registry.onPodState(key, rank, pod.getMetadata().getUid(),
          RankPodManager.isReady(pod) ? PodCondition.READY : PodCondition.NOT_READY);
    });
    registry.committed(key).ifPresent(committed -> committed.members().forEach((rank, member) -> {
      if (!member.podUid().equals(uidByRank.get(rank))) {
        registry.onPodState(key, rank, member.podUid(), PodCondition.GONE);
      }
    }));
  }

  @Override
  public DeleteControl cleanup(ElasticMoEDeployment emd, Context<ElasticMoEDeployment> context) {
    // Pods and the Secret go with their owner (garbage collection); the rendezvous state and the
    // TCPStore endpoint (objects in the operator's namespace, out of reach of GC) are ours.
    tcpStore.remove(emd);
    registry.remove(key(emd));
    return DeleteControl.defaultDelete();
  }

  private static DeploymentKey key(ElasticMoEDeployment emd) {
    return new DeploymentKey(emd.getMetadata().getNamespace(), emd.getMetadata().getName());
  }

  private static String sha256(String token) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }

  private void warnIfScaleBlocked(ElasticMoEDeployment emd, ScalePlan plan) {
    if (plan.blocked() && !Objects.equals(emd.getMetadata().getGeneration(), previousObservedGeneration(emd))) {
      events.warning(emd, ConditionReason.ScaleDownBlocked.name(), plan.blockedMessage());
    }
  }

  private void createMissingRankPods(
      ElasticMoEDeployment emd, ScalePlan plan, String rendezvousAddress, Optional<TcpStoreStatus> tcpStoreEndpoint) {
    if (plan.ranksToCreate().isEmpty()) {
      return;
    }
    RankPodTemplate base =
        RankPodTemplate.fromCrd(emd, rendezvousAddress, RendezvousCredential.secretName(emd.getMetadata().getName()));
    RankPodTemplate withTcpStore = tcpStoreEndpoint.map(t -> base.withTcpStoreAddress(t.address)).orElse(base);
    RankPodTemplate template = tls.serverName().map(withTcpStore::withRendezvousTls).orElse(withTcpStore);
    for (int rank : plan.ranksToCreate()) {
      rankPods.create(template.generatePod(rank));
    }
    LOG.infof("%s: created rank pods %s", ref(emd), plan.ranksToCreate());
    events.normal(emd, ConditionReason.ScalingUp.name(), "created rank pods " + plan.ranksToCreate());
  }

  private void removeSurplusRankPods(ElasticMoEDeployment emd, ScalePlan plan, Map<Integer, Pod> podsByRank) {
    if (plan.ranksToRemove().isEmpty()) {
      return;
    }
    for (int rank : plan.ranksToRemove()) {
      rankPods.delete(emd.getMetadata().getNamespace(), podsByRank.get(rank).getMetadata().getName());
    }
    LOG.infof("%s: removed rank pods %s", ref(emd), plan.ranksToRemove());
    events.normal(emd, ConditionReason.ScalingDown.name(), "removed rank pods " + plan.ranksToRemove());
  }

  private ElasticMoEDeploymentStatus observedStatus(
      ElasticMoEDeployment emd, ScalePlan plan, Map<Integer, Pod> podsByRank) {
    // Counts describe the pods that remain once this reconcile's deletions land.
    List<Pod> kept = podsByRank.entrySet().stream()
        .filter(e -> plan.plannedRanks().contains(e.getKey())).map(Map.Entry::getValue).toList();
    int ready = (int) kept.stream().filter(RankPodManager::isReady).count();
    List<Integer> expertsAtRisk = registry.placement(key(emd)).current()
        .map(placement -> List.copyOf(placement.getExpertsAtRiskList())).orElse(null);
    return StatusBuilder.observed(emd, plan, kept.size(), ready, expertsAtRisk, clock.instant());
  }

  private UpdateControl<ElasticMoEDeployment> reportStatus(ElasticMoEDeployment emd, ElasticMoEDeploymentStatus status) {
    if (emd.getStatus() != null && sameOwnedFields(emd.getStatus(), status)) {
      return UpdateControl.noUpdate();
    }
    // A fresh object with identity and status only: the patch never races a user's spec edit.
    ElasticMoEDeployment patch = new ElasticMoEDeployment();
    patch.getMetadata().setName(emd.getMetadata().getName());
    patch.getMetadata().setNamespace(emd.getMetadata().getNamespace());
    patch.setStatus(status);
    return UpdateControl.patchStatus(patch);
  }

  private static Long previousObservedGeneration(ElasticMoEDeployment emd) {
    return emd.getStatus() == null ? null : emd.getStatus().observedGeneration;
  }

  private static boolean sameOwnedFields(ElasticMoEDeploymentStatus a, ElasticMoEDeploymentStatus b) {
    return Objects.equals(a.observedGeneration, b.observedGeneration)
        && Objects.equals(a.replicas, b.replicas)
        && Objects.equals(a.readyReplicas, b.readyReplicas)
        && Objects.equals(a.selector, b.selector)
        && Objects.equals(a.expertsAtRisk, b.expertsAtRisk)
        && Objects.equals(a.tcpStore, b.tcpStore)
        && Objects.equals(a.conditions, b.conditions);
  }

  private static String ref(ElasticMoEDeployment emd) {
    return emd.getMetadata().getNamespace() + "/" + emd.getMetadata().getName();
  }
}
