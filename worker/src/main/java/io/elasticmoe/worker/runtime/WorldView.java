package io.elasticmoe.worker.runtime;

/**
 * What the rendezvous says about the world at one epoch, as the data plane needs it: the sorted active
 * ranks and what this rank must do (the Assignment of rendezvous.proto without transport concerns).
 */
public record WorldView(long epoch, int[] activeRanks, Directive directive) {

  public enum Directive {
    RUN,
    DRAIN,
    REJOIN,
    EXIT
  }
}
