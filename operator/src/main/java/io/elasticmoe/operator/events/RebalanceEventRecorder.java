package io.elasticmoe.operator.events;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.operator.rendezvous.RebalanceEvents;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import org.jboss.logging.Logger;

/**
 * Records a load-driven re-plan as a Normal event on the ElasticMoEDeployment. The rendezvous knows a
 * deployment only by namespace/name, so the resource is read first: the event must carry its uid, or
 * {@code kubectl describe} (which selects events by uid) does not show it.
 */
public final class RebalanceEventRecorder implements RebalanceEvents {
  private static final Logger LOG = Logger.getLogger(RebalanceEventRecorder.class);

  private final KubernetesClient client;
  private final EventRecorder events;

  public RebalanceEventRecorder(KubernetesClient client, EventRecorder events) {
    this.client = client;
    this.events = events;
  }

  @Override
  public void loadDrivenReplan(DeploymentKey key, String reason, String message) {
    ElasticMoEDeployment emd;
    try {
      emd = client.resources(ElasticMoEDeployment.class).inNamespace(key.namespace()).withName(key.name()).get();
    } catch (KubernetesClientException e) {
      LOG.warnf("could not read %s to record %s: %s", key, reason, e.getMessage());
      return;
    }
    if (emd != null) {
      events.normal(emd, reason, message);
    }
  }
}
