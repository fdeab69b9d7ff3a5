package io.elasticmoe.worker.rendezvous;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Who this worker is to the rendezvous, as injected into the rank pod.
 *
 * @param target {@code host:port} of the rendezvous (EMD_RENDEZVOUS)
 * @param namespace the deployment's namespace (EMD_NAMESPACE)
 * @param name the deployment's name (EMD_NAME)
 * @param rank the sticky rank (EMD_RANK)
 * @param podUid metadata.uid of the pod (EMD_POD_UID)
 * @param podName metadata.name (HOSTNAME in a pod)
 * @param nodeName the node (EMD_NODE_NAME; may be empty)
 * @param token the per-deployment credential (EMD_TOKEN, or the file named by EMD_TOKEN_FILE)
 */
public record RendezvousIdentity(
    String target, String namespace, String name, int rank, String podUid, String podName, String nodeName,
    String token) {

  public RendezvousIdentity {
    if (token == null || token.isBlank()) {
      throw new IllegalArgumentException("the rendezvous token is empty; set EMD_TOKEN or EMD_TOKEN_FILE");
    }
    if (rank < 0) {
      throw new IllegalArgumentException("EMD_RANK is " + rank + "; ranks are not negative");
    }
  }

  public String deployment() {
    return namespace + "/" + name;
  }

  /** Reads the identity from the pod's environment; errors name the missing or bad variable. */
  public static RendezvousIdentity fromEnv(Map<String, String> env) {
    String rankText = required(env, "EMD_RANK");
    int rank;
    try {
      rank = Integer.parseInt(rankText);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("EMD_RANK is '" + rankText + "'; it must be a non-negative integer");
    }
    String token = env.get("EMD_TOKEN");
    if ((token == null || token.isEmpty()) && env.containsKey("EMD_TOKEN_FILE")) {
      Path file = Path.of(env.get("EMD_TOKEN_FILE"));
      try {
        token = Files.readString(file, StandardCharsets.UTF_8).trim();
      } catch (IOException e) {
        throw new IllegalArgumentException("EMD_TOKEN_FILE " + file + " cannot be read: " + e.getMessage(), e);
      }
    }
    String target = required(env, "EMD_RENDEZVOUS");
    if (target.lastIndexOf(':') <= 0) {
      throw new IllegalArgumentException("EMD_RENDEZVOUS is '" + target + "'; it must be host:port");
    }
    return new RendezvousIdentity(
        target,
        required(env, "EMD_NAMESPACE"),
        required(env, "EMD_NAME"),
        rank,
        required(env, "EMD_POD_UID"),
        env.getOrDefault("HOSTNAME", ""),
        env.getOrDefault("EMD_NODE_NAME", ""),
        token);
  }

  private static String required(Map<String, String> env, String name) {
    String v = env.get(name);
    if (v == null || v.isEmpty()) {
      throw new IllegalArgumentException(name + " is not set; the operator injects it into rank pods");
    }
    return v;
  }
}
