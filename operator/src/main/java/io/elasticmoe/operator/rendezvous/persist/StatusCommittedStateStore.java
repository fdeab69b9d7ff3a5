package io.elasticmoe.operator.rendezvous.persist;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentStatus;
import io.elasticmoe.api.v1alpha1.RankStatus;
import io.elasticmoe.operator.rendezvous.core.CommittedMember;
import io.elasticmoe.operator.rendezvous.core.CommittedState;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Persists the committed state into the ElasticMoEDeployment's status subresource with a JSON merge
 * patch that names only {@code epoch}, {@code worldSize}, {@code ranks} and {@code placementVersion}, so
 * the reconciler's fields (conditions, replicas, ...) are never touched and a concurrent status write
 * by the reconciler cannot be overwritten. Throws when the API server does not accept the patch: the
 * caller then does not announce the epoch.
 */
public final class StatusCommittedStateStore implements CommittedStateStore {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final KubernetesClient client;

  public StatusCommittedStateStore(KubernetesClient client) {
    this.client = client;
  }

  @Override
  public void save(DeploymentKey key, CommittedState state) {
    client
        .resources(ElasticMoEDeployment.class)
        .inNamespace(key.namespace())
        .withName(key.name())
        .subresource("status")
        .patch(PatchContext.of(PatchType.JSON_MERGE), statusPatch(state));
  }

  @Override
  public Optional<CommittedState> load(DeploymentKey key) {
    ElasticMoEDeployment emd =
        client.resources(ElasticMoEDeployment.class).inNamespace(key.namespace()).withName(key.name()).get();
    return emd == null ? Optional.empty() : fromStatus(emd.getStatus());
  }

  /** The merge patch body: {"status":{"epoch":…,"worldSize":…,"ranks":[…],"placementVersion":…}}. */
  public static String statusPatch(CommittedState state) {
    ObjectNode status = JSON.createObjectNode();
    status.put("epoch", state.epoch());
    status.put("worldSize", state.worldSize());
    ArrayNode ranks = status.putArray("ranks");
    for (CommittedMember m : state.members().values()) {
      ObjectNode r = ranks.addObject();
      r.put("rank", m.rank());
      r.put("uid", m.podUid());
      if (m.podName() != null && !m.podName().isEmpty()) {
        r.put("pod", m.podName());
      }
      if (m.nodeName() != null && !m.nodeName().isEmpty()) {
        r.put("node", m.nodeName());
      }
      r.put("state", RankStatus.RankState.Active.name());
    }
    status.put("placementVersion", state.placementVersion());
    ObjectNode root = JSON.createObjectNode();
    root.set("status", status);
    return root.toString();
  }

  /** The committed state a status describes; empty before the first commit. */
  public static Optional<CommittedState> fromStatus(ElasticMoEDeploymentStatus status) {
    if (status == null || status.epoch == null || status.epoch == 0) {
      return Optional.empty();
    }
    List<CommittedMember> members = new ArrayList<>();
    if (status.ranks != null) {
      for (RankStatus r : status.ranks) {
        members.add(new CommittedMember(r.rank, r.uid, r.pod, r.node));
      }
    }
    long placementVersion = status.placementVersion == null ? 0 : status.placementVersion;
    return Optional.of(CommittedState.of(status.epoch, members, placementVersion));
  }
}
