package io.elasticmoe.operator.model;

import java.util.Map;

/** The labels that tie rank pods to their deployment; {@link #selector} matches all of them. */
public final class DeploymentLabels {
  public static final String NAME = "app.kubernetes.io/name";
  public static final String WORKER = "elasticmoe-worker";
  public static final String DEPLOYMENT = "elasticmoe.io/deployment";
  public static final String RANK = "elasticmoe.io/rank";

  private DeploymentLabels() {}

  public static Map<String, String> forDeployment(String deploymentName) {
    return Map.of(NAME, WORKER, DEPLOYMENT, deploymentName);
  }

  /** The status.selector string (scale subresource, HPA). */
  public static String selector(String deploymentName) {
    return NAME + "=" + WORKER + "," + DEPLOYMENT + "=" + deploymentName;
  }
}
