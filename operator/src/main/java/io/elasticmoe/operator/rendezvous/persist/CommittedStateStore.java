package io.elasticmoe.operator.rendezvous.persist;

import io.elasticmoe.operator.rendezvous.core.CommittedState;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import java.util.Optional;

/**
 * Where committed membership is persisted before it is announced. {@link #save} returns only once the
 * state is durable; when it throws, the commit must not be announced.
 */
public interface CommittedStateStore {

  void save(DeploymentKey key, CommittedState state);

  /** What was last saved, e.g. for a new operator leader; empty when nothing was. */
  Optional<CommittedState> load(DeploymentKey key);
}
