package io.elasticmoe.operator.rendezvous.core;

/** One rank of a committed epoch: the pod that holds it. Persisted as one status.ranks[] entry. */
public record CommittedMember(int rank, String podUid, String podName, String nodeName) {}
