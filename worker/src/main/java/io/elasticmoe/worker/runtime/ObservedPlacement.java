package io.elasticmoe.worker.runtime;

/**
 * A placement version this rank received from the rendezvous: the epoch it was planned for and its
 * encoded message, opaque here (the caller decodes what it installs). Versions strictly increase per
 * deployment, so one version always names the same bytes.
 */
public record ObservedPlacement(long version, long epoch, byte[] encoded) {

  public ObservedPlacement {
    if (version < 1) {
      throw new IllegalArgumentException("placement version " + version + " must be at least 1");
    }
  }
}
