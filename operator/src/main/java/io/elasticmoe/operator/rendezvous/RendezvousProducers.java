package io.elasticmoe.operator.rendezvous;

import io.elasticmoe.operator.events.EventRecorder;
import io.elasticmoe.operator.events.RebalanceEventRecorder;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import io.elasticmoe.operator.rendezvous.grpc.RendezvousMetrics;
import io.elasticmoe.operator.rendezvous.persist.CommittedStateStore;
import io.elasticmoe.operator.rendezvous.persist.StatusCommittedStateStore;
import io.elasticmoe.placement.ExpertPlacementPlanner;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * CDI wiring of the rendezvous: the store core (shared with the TCPStore endpoint), the registry the
 * reconciler drives, the CR-status persistence, the events of load-driven re-plans and the metrics.
 * Plain classes stay constructible in tests without CDI.
 */
@Singleton
public class RendezvousProducers {
  // One thread is enough: it only completes timed-out waiters and fires membership ticks.
  private final ScheduledThreadPoolExecutor timers = new ScheduledThreadPoolExecutor(1, r -> {
    Thread t = new Thread(r, "rendezvous-timers");
    t.setDaemon(true);
    return t;
  });

  public RendezvousProducers() {
    timers.setRemoveOnCancelPolicy(true);
  }

  @Produces
  @Singleton
  KeyValueCore keyValueCore(
      @ConfigProperty(name = "elasticmoe.rendezvous.store.max-key-bytes", defaultValue = "4096") int maxKeyBytes,
      @ConfigProperty(name = "elasticmoe.rendezvous.store.max-value-bytes", defaultValue = "1048576") int maxValueBytes,
      @ConfigProperty(name = "elasticmoe.rendezvous.store.max-keys-per-request", defaultValue = "4096") int maxKeys,
      @ConfigProperty(name = "elasticmoe.rendezvous.store.max-bytes-per-deployment", defaultValue = "67108864")
          long maxBytes,
      @ConfigProperty(name = "elasticmoe.rendezvous.store.max-waiters-per-deployment", defaultValue = "65536")
          int maxWaiters) {
    return new KeyValueCore(new KeyValueLimits(maxKeyBytes, maxValueBytes, maxKeys, maxBytes, maxWaiters), timers);
  }

  @Produces
  @Singleton
  RendezvousMetrics rendezvousMetrics(MeterRegistry registry, KeyValueCore core) {
    RendezvousMetrics metrics = new RendezvousMetrics(registry);
    metrics.bindStore(core);
    return metrics;
  }

  @Produces
  @Singleton
  CommittedStateStore committedStateStore(KubernetesClient client) {
    return new StatusCommittedStateStore(client);
  }

  @Produces
  @Singleton
  RendezvousRegistry rendezvousRegistry(
      KeyValueCore core,
      CommittedStateStore store,
      Clock clock,
      MeterRegistry registry,
      KubernetesClient client,
      EventRecorder events,
      @ConfigProperty(name = "elasticmoe.rendezvous.startup-grace", defaultValue = "60s") Duration startupGrace) {
    return new RendezvousRegistry(core, store, clock, timers, new ExpertPlacementPlanner(), registry,
        new RebalanceEventRecorder(client, events), startupGrace);
  }

  @PreDestroy
  void stopTimers() {
    timers.shutdownNow();
  }
}
