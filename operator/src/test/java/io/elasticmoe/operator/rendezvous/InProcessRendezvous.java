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
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.AbstractStub;
import io.grpc.stub.MetadataUtils;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The three rendezvous services behind the auth interceptor on an in-process server, with an
 * in-memory committed-state store and a hand-moved clock. A test gets channels per credential.
 */
public final class InProcessRendezvous implements AutoCloseable {
  public static final DeploymentKey TEAM_A = new DeploymentKey("team-a", "llm");
  public static final DeploymentKey TEAM_B = new DeploymentKey("team-b", "llm");
  public static final String TOKEN_A = "token-of-team-a";
  public static final String TOKEN_B = "token-of-team-b";

  public final MutableClock clock = new MutableClock(Instant.parse("2026-11-29T00:00:00Z"));
  public final ScheduledThreadPoolExecutor timers = new ScheduledThreadPoolExecutor(1);
  public final KeyValueCore core;
  public final InMemoryCommittedStateStore committed = new InMemoryCommittedStateStore();
  public final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  public final RendezvousMetrics metrics = new RendezvousMetrics(meters);
  /** Load-driven re-plans as "ns/name Reason: message", in the order they were reported. */
  public final List<String> rebalanceEvents = new java.util.concurrent.CopyOnWriteArrayList<>();
  public RendezvousRegistry registry;
  private final String name = InProcessServerBuilder.generateName();
  private Server server;
  private Server netty;
  private final List<ManagedChannel> channels = new java.util.ArrayList<>();

  public InProcessRendezvous(KeyValueLimits limits) throws IOException {
    timers.setRemoveOnCancelPolicy(true);
    core = new KeyValueCore(limits, timers);
    metrics.bindStore(core);
    start(Duration.ZERO);
  }

  public InProcessRendezvous() throws IOException {
    this(KeyValueLimits.DEFAULTS);
  }

  public static RendezvousSpec spec(String token, int min, Integer... planned) {
    return new RendezvousSpec(
        List.of(planned), min, 8, Duration.ofSeconds(2), 3, Duration.ofSeconds(120),
        DeploymentAuthInterceptor.sha256Hex(token),
        new PlacementConfig(8, 16, 1, 1, List.of(), PlacementConfig.DEFAULT_REBALANCE));
  }

  /** Ranks 0..n-1 planned out of maxRanks = n, 2 slots per rank. */
  public static RendezvousSpec worldOf(String token, int n) {
    return new RendezvousSpec(
        java.util.stream.IntStream.range(0, n).boxed().toList(), 1, n, Duration.ofSeconds(2), 3,
        Duration.ofSeconds(120), DeploymentAuthInterceptor.sha256Hex(token),
        new PlacementConfig(n, 2 * n, 1, 1, List.of(), PlacementConfig.DEFAULT_REBALANCE));
  }

  /** Starts (or, after {@link #restartOperator}, restarts) the server over a fresh registry. */
  private void start(Duration startupGrace) throws IOException {
    registry =
        new RendezvousRegistry(core, committed, clock, timers, new ExpertPlacementPlanner(), meters,
            (key, reason, message) -> rebalanceEvents.add(key + " " + reason + ": " + message), startupGrace);
    server = withServices(InProcessServerBuilder.forName(name)).build().start();
  }

  private <B extends io.grpc.ServerBuilder<B>> B withServices(B builder) {
    DeploymentAuthInterceptor auth = new DeploymentAuthInterceptor(registry);
    return builder
        .addService(ServerInterceptors.intercept(new StoreService(core, metrics), auth))
        .addService(ServerInterceptors.intercept(new MembershipService(registry, metrics), auth))
        .addService(ServerInterceptors.intercept(new PlacementService(registry, metrics), auth));
  }

  /** Also serves the same services over real TCP on a free loopback port; returns the port. */
  public int serveOnLoopback() throws IOException {
    netty = withServices(io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder.forAddress(
        new java.net.InetSocketAddress("127.0.0.1", 0))).build().start();
    return netty.getPort();
  }

  /**
   * A new operator process: in-memory membership is lost, the committed store survives, and for a
   * minute (the clock does not move unless a test moves it) unknown credentials are UNAVAILABLE.
   */
  public void restartOperator() throws IOException, InterruptedException {
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    start(Duration.ofMinutes(1));
  }

  public ManagedChannel channel() {
    ManagedChannel c = InProcessChannelBuilder.forName(name).directExecutor().build();
    channels.add(c);
    return c;
  }

  public static <S extends AbstractStub<S>> S authed(S stub, String token, DeploymentKey deployment) {
    Metadata headers = new Metadata();
    if (token != null) {
      headers.put(DeploymentAuthInterceptor.AUTHORIZATION, "Bearer " + token);
    }
    if (deployment != null) {
      headers.put(DeploymentAuthInterceptor.DEPLOYMENT_HEADER, deployment.toString());
    }
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  @Override
  public void close() throws InterruptedException {
    channels.forEach(ManagedChannel::shutdownNow);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    if (netty != null) {
      netty.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    timers.shutdownNow();
  }
}
