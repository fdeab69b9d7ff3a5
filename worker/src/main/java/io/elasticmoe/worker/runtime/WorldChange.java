package io.elasticmoe.worker.runtime;

/**
 * The data-plane steps that take a rank from its current connections to a new epoch's world:
 * disconnect first (departed ranks, and failed ranks that came back as new processes), then connect
 * (everything in the world this rank has no live endpoint to) with a barrier over {@code world}.
 */
public record WorldChange(long epoch, int[] disconnect, int[] connect, int[] world) {}
