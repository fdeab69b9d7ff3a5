package io.elasticmoe.operator.model;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.util.Map;

/**
 * The per-deployment rendezvous credential: a Secret the operator generates once and owns. Rank pods
 * read it as EMD_TOKEN; the rendezvous accepts it for this deployment only.
 */
public final class RendezvousCredential {
  public static final String TOKEN_KEY = "token";

  private RendezvousCredential() {}

  public static String secretName(String deploymentName) {
    return deploymentName + "-rendezvous";
  }

  /** @param token a fresh random token (the caller draws it; this class stays deterministic) */
  public static Secret generateSecret(ElasticMoEDeployment emd, String token) {
    String name = emd.getMetadata().getName();
    return new SecretBuilder()
        .withNewMetadata()
        .withName(secretName(name))
        .withNamespace(emd.getMetadata().getNamespace())
        .withLabels(Map.of(DeploymentLabels.DEPLOYMENT, name))
        .withOwnerReferences(Ownership.controlledBy(emd))
        .endMetadata()
        .withType("Opaque")
        .withStringData(Map.of(TOKEN_KEY, token))
        .build();
  }
}
