package io.elasticmoe.operator.pods;

import io.elasticmoe.operator.model.DeploymentLabels;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import jakarta.enterprise.context.ApplicationScoped;
import java.net.HttpURLConnection;
import java.util.Optional;

/**
 * The only class that creates or deletes rank pods. The reconciler reads pods from the informer cache,
 * which may lag a create or a delete by a moment: both calls here are therefore idempotent.
 */
@ApplicationScoped
public class RankPodManager {
  private final KubernetesClient client;

  public RankPodManager(KubernetesClient client) {
    this.client = client;
  }

  /** Creates the pod; a pod of that name that already exists (a stale cache) is left as it is. */
  public void create(Pod pod) {
    try {
      client.pods().inNamespace(pod.getMetadata().getNamespace()).resource(pod).create();
    } catch (KubernetesClientException e) {
      if (e.getCode() != HttpURLConnection.HTTP_CONFLICT) {
        throw e;
      }
    }
  }

  /** Deletes the pod of a rank, if it exists, with the pod's own grace period. */
  public void delete(String namespace, String podName) {
    client.pods().inNamespace(namespace).withName(podName).delete();
  }

  public static Optional<Integer> rankOf(Pod pod) {
    String rank = pod.getMetadata().getLabels() == null ? null : pod.getMetadata().getLabels().get(DeploymentLabels.RANK);
    if (rank == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(Integer.parseInt(rank));
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  public static boolean isReady(Pod pod) {
    return pod.getStatus() != null
        && pod.getStatus().getConditions() != null
        && pod.getMetadata().getDeletionTimestamp() == null
        && pod.getStatus().getConditions().stream()
            .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
  }
}
