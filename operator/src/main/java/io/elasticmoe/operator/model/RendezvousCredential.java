package io.elasticmoe.operator.model;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The per-deployment rendezvous credential: a Secret the operator generates once and owns. Rank pods
 * read it as EMD_TOKEN; the rendezvous accepts it for this deployment only. When the rendezvous
 * speaks TLS the Secret also carries the CA certificate rank pods trust (EMD_RENDEZVOUS_CA), so a
 * worker gets everything it needs to reach the rendezvous from one object.
 */
public final class RendezvousCredential {
  public static final String TOKEN_KEY = "token";
  public static final String CA_CERTIFICATE_KEY = "ca.crt";

  private RendezvousCredential() {}

  public static String secretName(String deploymentName) {
    return deploymentName + "-rendezvous";
  }

  /**
   * @param token a fresh random token (the caller draws it; this class stays deterministic)
   * @param caCertificatePem the rendezvous CA (PEM) when the rendezvous speaks TLS
   */
  public static Secret generateSecret(ElasticMoEDeployment emd, String token, Optional<String> caCertificatePem) {
    Map<String, String> data = new LinkedHashMap<>();
    data.put(TOKEN_KEY, token);
    caCertificatePem.ifPresent(ca -> data.put(CA_CERTIFICATE_KEY, ca));
    String name = emd.getMetadata().getName();
    return new SecretBuilder()
        .withNewMetadata()
        .withName(secretName(name))
        .withNamespace(emd.getMetadata().getNamespace())
        .withLabels(Map.of(DeploymentLabels.DEPLOYMENT, name))
        .withOwnerReferences(Ownership.controlledBy(emd))
        .endMetadata()
        .withType("Opaque")
        .withStringData(data)
        .build();
  }
}
