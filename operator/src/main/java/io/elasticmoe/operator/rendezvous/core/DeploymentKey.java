package io.elasticmoe.operator.rendezvous.core;

import java.util.Objects;

/** Identity of one ElasticMoEDeployment: every rendezvous state and store namespace is keyed by it. */
public record DeploymentKey(String namespace, String name) {

  public DeploymentKey {
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(name, "name");
    if (namespace.isEmpty() || name.isEmpty() || namespace.contains("/") || name.contains("/")) {
      throw new IllegalArgumentException(
          "deployment '" + namespace + "/" + name + "' must be <namespace>/<name>, both non-empty");
    }
  }

  /** Parses {@code <namespace>/<name>}, the form of the {@code x-elasticmoe-deployment} header. */
  public static DeploymentKey parse(String text) {
    int slash = text.indexOf('/');
    if (slash <= 0 || slash == text.length() - 1 || text.indexOf('/', slash + 1) >= 0) {
      throw new IllegalArgumentException(
          "deployment '" + text + "' must be <namespace>/<name>, both non-empty");
    }
    return new DeploymentKey(text.substring(0, slash), text.substring(slash + 1));
  }

  @Override
  public String toString() {
    return namespace + "/" + name;
  }
}
