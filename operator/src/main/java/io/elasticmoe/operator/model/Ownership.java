package io.elasticmoe.operator.model;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;

/** Objects a deployment owns are garbage-collected with it, and deleted before it (blockOwnerDeletion). */
public final class Ownership {

  private Ownership() {}

  public static OwnerReference controlledBy(ElasticMoEDeployment emd) {
    return new OwnerReferenceBuilder()
        .withApiVersion(emd.getApiVersion())
        .withKind(emd.getKind())
        .withName(emd.getMetadata().getName())
        .withUid(emd.getMetadata().getUid())
        .withController(true)
        .withBlockOwnerDeletion(true)
        .build();
  }
}
