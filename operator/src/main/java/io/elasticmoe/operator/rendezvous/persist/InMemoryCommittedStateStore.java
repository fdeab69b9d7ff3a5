package io.elasticmoe.operator.rendezvous.persist;

import io.elasticmoe.operator.rendezvous.core.CommittedState;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** A store for tests and benchmarks; survives a registry restart within the process, nothing more. */
public final class InMemoryCommittedStateStore implements CommittedStateStore {
  private final ConcurrentHashMap<DeploymentKey, CommittedState> saved = new ConcurrentHashMap<>();

  @Override
  public void save(DeploymentKey key, CommittedState state) {
    saved.put(key, state);
  }

  @Override
  public Optional<CommittedState> load(DeploymentKey key) {
    return Optional.ofNullable(saved.get(key));
  }
}
