package io.elasticmoe.operator.rendezvous;

import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import io.elasticmoe.operator.rendezvous.grpc.DeploymentAuthInterceptor;
import io.elasticmoe.operator.rendezvous.grpc.MembershipService;
import io.elasticmoe.operator.rendezvous.grpc.PlacementService;
import io.elasticmoe.operator.rendezvous.grpc.RendezvousMetrics;
import io.elasticmoe.operator.rendezvous.grpc.StoreService;
import io.elasticmoe.operator.rendezvous.persist.InMemoryCommittedStateStore;
import io.elasticmoe.placement.ExpertPlacementPlanner;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.stream.IntStream;

/**
 * The rendezvous services without Kubernetes, for benchmarks and local development: one deployment
 * with a fixed plan, committed state kept in memory. Serves until its standard input closes, so the
 * process that started it controls its lifetime.
 *
 * <pre>
 * java -cp 'operator/target/quarkus-app/app/*:operator/target/quarkus-app/lib/main/*' \
 *   io.elasticmoe.operator.rendezvous.StandaloneRendezvousServer NAMESPACE/NAME TOKEN RANKS [HEARTBEAT_MS]
 * </pre>
 *
 * It prints {@code listening 127.0.0.1:PORT} once it accepts calls.
 */
public final class StandaloneRendezvousServer {
  private StandaloneRendezvousServer() {}

  public static void main(String[] args) throws IOException, InterruptedException {
    if (args.length < 3) {
      System.err.println("usage: StandaloneRendezvousServer NAMESPACE/NAME TOKEN RANKS [HEARTBEAT_MS]");
      System.exit(2);
    }
    DeploymentKey key = DeploymentKey.parse(args[0]);
    String token = args[1];
    int ranks = Integer.parseInt(args[2]);
    Duration heartbeat = Duration.ofMillis(args.length > 3 ? Long.parseLong(args[3]) : 2_000);
    ScheduledThreadPoolExecutor timers = new ScheduledThreadPoolExecutor(1);
    timers.setRemoveOnCancelPolicy(true);
    KeyValueCore core = new KeyValueCore(KeyValueLimits.DEFAULTS, timers);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    RendezvousMetrics metrics = new RendezvousMetrics(meters);
    metrics.bindStore(core);
    RendezvousRegistry registry =
        new RendezvousRegistry(core, new InMemoryCommittedStateStore(), Clock.systemUTC(), timers,
            new ExpertPlacementPlanner(), meters, RebalanceEvents.NONE, Duration.ZERO);
    registry.upsert(key, new RendezvousSpec(IntStream.range(0, ranks).boxed().toList(), 1, ranks, heartbeat, 3,
        Duration.ofSeconds(120), DeploymentAuthInterceptor.sha256Hex(token),
        new PlacementConfig(ranks, 2 * ranks, 1, 1, List.of(), PlacementConfig.DEFAULT_REBALANCE)));
    DeploymentAuthInterceptor auth = new DeploymentAuthInterceptor(registry);
    Server server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            // Handlers never block here (in-memory persistence, waiters instead of parked threads):
            // running them on the transport thread saves two thread hand-offs per call.
            .directExecutor()
            .addService(ServerInterceptors.intercept(new StoreService(core, metrics), auth))
            .addService(ServerInterceptors.intercept(new MembershipService(registry, metrics), auth))
            .addService(ServerInterceptors.intercept(new PlacementService(registry, metrics), auth))
            .build()
            .start();
    System.out.println("listening 127.0.0.1:" + server.getPort());
    System.out.flush();
    while (System.in.read() >= 0) {
      // Serve until the parent closes our stdin.
    }
    server.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
    timers.shutdownNow();
  }
}
