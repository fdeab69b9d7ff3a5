package io.elasticmoe.operator.reconciler;

import io.elasticmoe.api.v1alpha1.ConditionReason;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentStatus;
import io.elasticmoe.operator.events.EventRecorder;
import io.elasticmoe.operator.model.SpecValidator;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import java.time.Clock;
import java.util.List;
import java.util.Objects;
import org.jboss.logging.Logger;

/**
 * Reconciles an {@link ElasticMoEDeployment}: validate the spec, then report status. Each step is one
 * method; the order of the calls in {@link #reconcile} is the order of the work.
 */
@ControllerConfiguration(name = "elasticmoedeployment")
public class ElasticMoEReconciler implements Reconciler<ElasticMoEDeployment> {
  private static final Logger LOG = Logger.getLogger(ElasticMoEReconciler.class);

  private final EventRecorder events;
  private final Clock clock;

  public ElasticMoEReconciler(EventRecorder events, Clock clock) {
    this.events = events;
    this.clock = clock;
  }

  @Override
  public UpdateControl<ElasticMoEDeployment> reconcile(
      ElasticMoEDeployment emd, Context<ElasticMoEDeployment> context) {
    List<String> problems = SpecValidator.validate(emd.getSpec());
    if (!problems.isEmpty()) {
      return rejectInvalidSpec(emd, problems);
    }
    return reportStatus(emd, StatusBuilder.observed(emd, 0, 0, clock.instant()));
  }

  private UpdateControl<ElasticMoEDeployment> rejectInvalidSpec(ElasticMoEDeployment emd, List<String> problems) {
    ElasticMoEDeploymentStatus status = StatusBuilder.invalidSpec(emd, problems, clock.instant());
    if (!Objects.equals(emd.getMetadata().getGeneration(), previousObservedGeneration(emd))) {
      // One event per generation: a retry of the same bad spec says nothing new.
      events.warning(emd, ConditionReason.InvalidSpec.name(), String.join("; ", problems));
      LOG.warnf("%s/%s: invalid spec: %s", emd.getMetadata().getNamespace(), emd.getMetadata().getName(), problems);
    }
    return reportStatus(emd, status);
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
        && Objects.equals(a.conditions, b.conditions);
  }
}
