package io.elasticmoe.operator.rendezvous.grpc;

import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.grpc.Status;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * Prometheus metrics of the rendezvous (via Micrometer):
 *
 * <ul>
 *   <li>{@code elasticmoe_rendezvous_calls_seconds{service,method,code}}: every call by result, with a
 *       latency histogram;
 *   <li>{@code elasticmoe_rendezvous_store_keys|bytes|waiters}: what the store holds over all deployments;
 *   <li>{@code elasticmoe_rendezvous_epoch|members{deployment}}: registered by the registry per deployment.
 * </ul>
 */
public final class RendezvousMetrics {
  private final MeterRegistry registry;
  private final ConcurrentHashMap<String, Timer> timers = new ConcurrentHashMap<>();

  public RendezvousMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  public MeterRegistry registry() {
    return registry;
  }

  public void record(String service, String method, Status.Code code, long nanos) {
    String id = service + '/' + method + '/' + code;
    Timer timer =
        timers.computeIfAbsent(
            id,
            k ->
                Timer.builder("elasticmoe.rendezvous.calls")
                    .description("Rendezvous gRPC calls by service, method and status code")
                    .tag("service", service)
                    .tag("method", method)
                    .tag("code", code.name())
                    .publishPercentileHistogram()
                    .register(registry));
    timer.record(nanos, TimeUnit.NANOSECONDS);
  }

  public void bindStore(KeyValueCore core) {
    gauge("elasticmoe.rendezvous.store.keys", "Keys held by the store", core, c -> c.totals().keys());
    gauge("elasticmoe.rendezvous.store.bytes", "Key and value bytes held by the store", core, c -> c.totals().bytes());
    gauge("elasticmoe.rendezvous.store.waiters", "Pending blocking store calls", core, c -> c.totals().waiters());
  }

  private <T> void gauge(String name, String description, T target, ToDoubleFunction<T> value) {
    Gauge.builder(name, target, value).description(description).register(registry);
  }
}
