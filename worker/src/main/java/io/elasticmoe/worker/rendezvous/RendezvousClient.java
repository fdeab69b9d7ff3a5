package io.elasticmoe.worker.rendezvous;

import io.elasticmoe.api.rendezvous.v1alpha1.Assignment;
import io.elasticmoe.api.rendezvous.v1alpha1.Directive;
import io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement;
import io.elasticmoe.api.rendezvous.v1alpha1.GetPlacementRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.HeartbeatRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.JoinRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.JoinResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.LeaveRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.LoadReport;
import io.elasticmoe.api.rendezvous.v1alpha1.MembershipGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.PlacementGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.ReportPeerFailureRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.WatchRequest;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.function.Predicate;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.random.RandomGenerator;

/**
 * The worker's side of the rendezvous: membership (join, watch, heartbeat), the store and placement.
 *
 * <p>{@link #start} joins and opens the Watch stream. Whenever the stream or a join fails with a
 * retryable status (the operator restarted, a leader changed, the network blinked) it re-joins with the
 * same pod uid and re-opens the stream after a jittered exponential backoff; the server then re-attaches
 * it to the committed epoch without starting a new one. Heartbeats run at the interval the server
 * announces in JoinResponse. Unary calls are retried on UNAVAILABLE by the channel's service config,
 * not by loops here. Credential errors (UNAUTHENTICATED, PERMISSION_DENIED) and bad requests are
 * permanent: {@link #awaitAssignment} then fails with them.
 */
public final class RendezvousClient implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(RendezvousClient.class.getName());
  private static final Set<Status.Code> PERMANENT =
      Set.of(Status.Code.UNAUTHENTICATED, Status.Code.PERMISSION_DENIED, Status.Code.INVALID_ARGUMENT,
          Status.Code.RESOURCE_EXHAUSTED, Status.Code.UNIMPLEMENTED);
  private static final String PACKAGE = "elasticmoe.rendezvous.v1alpha1.";

  private final RendezvousIdentity id;
  private final ManagedChannel channel;
  private final Optional<AnswerPollingEventLoop> transport;
  private final MembershipGrpc.MembershipBlockingStub membership;
  private final MembershipGrpc.MembershipStub membershipAsync;
  private final PlacementGrpc.PlacementBlockingStub placement;
  private final RendezvousKeyValueStore store;
  private final ScheduledExecutorService scheduler;
  private final Backoff backoff;
  private final List<Consumer<Assignment>> listeners = new CopyOnWriteArrayList<>();
  private final Object lock = new Object();
  private Assignment latest;
  private StatusRuntimeException permanentFailure;
  private ClientCallStreamObserver<WatchRequest> watchCall;
  private ScheduledFuture<?> heartbeats;
  private boolean closed;

  /** Connects over TCP (plaintext) to {@code id.target()}. */
  public static RendezvousClient connect(RendezvousIdentity id) {
    return connect(id, Optional.empty());
  }

  /**
   * Connects over TCP to {@code id.target()}: with TLS, trusting only the given CA, when {@code trust}
   * is present; plaintext otherwise. A server whose certificate that CA did not sign, or a plaintext
   * server, fails every call with UNAVAILABLE.
   */
  public static RendezvousClient connect(RendezvousIdentity id, Optional<RendezvousTrust> trust) {
    NettyChannelBuilder builder;
    if (trust.isPresent()) {
      ChannelCredentials tls;
      try {
        tls = TlsChannelCredentials.newBuilder()
            .trustManager(new ByteArrayInputStream(trust.get().caCertificatePem().getBytes(StandardCharsets.US_ASCII)))
            .build();
      } catch (IOException e) {
        throw new IllegalArgumentException("the rendezvous CA certificate cannot be loaded: " + e.getMessage(), e);
      }
      builder = NettyChannelBuilder.forTarget(id.target(), tls);
      // The authority is also the name the certificate is checked against.
      trust.get().serverName().ifPresent(builder::overrideAuthority);
    } else {
      builder = NettyChannelBuilder.forTarget(id.target()).usePlaintext();
    }
    // On Linux the channel gets its own transport thread that polls while a fast store answer is due.
    Optional<AnswerPollingEventLoop> loop =
        AnswerPollingEventLoop.available() ? Optional.of(new AnswerPollingEventLoop()) : Optional.empty();
    if (loop.isPresent()) {
      loop.get().configure(builder);
    }
    ManagedChannel channel = builder.defaultServiceConfig(retryOnUnavailable()).enableRetry().build();
    return new RendezvousClient(channel, id, RandomGenerator.getDefault(), loop);
  }

  /** From the rank pod's environment: identity ({@link RendezvousIdentity}) and TLS ({@link RendezvousTrust}). */
  public static RendezvousClient fromEnv() {
    Map<String, String> env = System.getenv();
    return connect(RendezvousIdentity.fromEnv(env), RendezvousTrust.fromEnv(env));
  }

  /** Over a given channel (tests use an in-process one); the client owns and closes it. */
  public RendezvousClient(ManagedChannel channel, RendezvousIdentity id, RandomGenerator jitter) {
    this(channel, id, jitter, Optional.empty());
  }

  private RendezvousClient(ManagedChannel channel, RendezvousIdentity id, RandomGenerator jitter,
      Optional<AnswerPollingEventLoop> transport) {
    this.id = id;
    this.channel = channel;
    this.transport = transport;
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + id.token());
    headers.put(Metadata.Key.of("x-elasticmoe-deployment", Metadata.ASCII_STRING_MARSHALLER), id.deployment());
    Channel authed = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
    this.membership = MembershipGrpc.newBlockingStub(authed);
    this.membershipAsync = MembershipGrpc.newStub(authed);
    this.placement = PlacementGrpc.newBlockingStub(authed);
    this.store = new RendezvousKeyValueStore(authed,
        transport.<LongConsumer>map(t -> t::expectAnswerWithin).orElse(nanos -> {}));
    ScheduledThreadPoolExecutor s = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "rendezvous-client-" + id.rank());
      t.setDaemon(true);
      return t;
    });
    s.setRemoveOnCancelPolicy(true);
    this.scheduler = s;
    this.backoff = new Backoff(Duration.ofMillis(50), Duration.ofSeconds(5), jitter);
  }

  /** Gives UNAVAILABLE calls 5 attempts with backoff, for every rendezvous service. */
  static Map<String, ?> retryOnUnavailable() {
    List<Map<String, ?>> names =
        List.of(Map.of("service", PACKAGE + "Membership"), Map.of("service", PACKAGE + "Store"),
            Map.of("service", PACKAGE + "Placement"));
    Map<String, ?> retry =
        Map.of("maxAttempts", 5.0, "initialBackoff", "0.05s", "maxBackoff", "2s", "backoffMultiplier", 2.0,
            "retryableStatusCodes", List.of("UNAVAILABLE"));
    return Map.of("methodConfig", List.of(Map.of("name", names, "retryPolicy", retry)));
  }

  public RendezvousIdentity identity() {
    return id;
  }

  /** Joins and keeps watching; {@code onAssignment} sees every assignment, in order, on one thread. */
  public void start(Consumer<Assignment> onAssignment) {
    listeners.add(onAssignment);
    scheduler.execute(this::attach);
  }

  public void start() {
    scheduler.execute(this::attach);
  }

  public Optional<Assignment> assignment() {
    synchronized (lock) {
      return Optional.ofNullable(latest);
    }
  }

  /** Blocks until an assignment satisfying {@code wanted} arrives (or already has). */
  public Assignment awaitAssignment(Predicate<Assignment> wanted, Duration timeout)
      throws TimeoutException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    synchronized (lock) {
      while (latest == null || !wanted.test(latest)) {
        if (permanentFailure != null) {
          throw permanentFailure;
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new TimeoutException(
              "rank " + id.rank() + " got no wanted assignment within " + timeout.toMillis() + " ms; last: "
                  + (latest == null ? "none" : "epoch " + latest.getEpoch() + " " + latest.getDirective()));
        }
        TimeUnit.NANOSECONDS.timedWait(lock, left);
      }
      return latest;
    }
  }

  /** Leaves the committed epoch cleanly (the drain's last step). */
  public void leave(String reason) {
    membership.leave(LeaveRequest.newBuilder().setRank(id.rank()).setPodUid(id.podUid())
        .setEpoch(currentEpoch()).setReason(reason).build());
  }

  public void reportPeerFailure(int failedRank, Duration waited) {
    membership.reportPeerFailure(ReportPeerFailureRequest.newBuilder().setRank(id.rank()).setPodUid(id.podUid())
        .setEpoch(currentEpoch()).setFailedRank(failedRank).setWaitedMillis(waited.toMillis()).build());
  }

  public RendezvousKeyValueStore store() {
    return store;
  }

  public ExpertPlacement placement() {
    return placement.getPlacement(GetPlacementRequest.getDefaultInstance());
  }

  /** Reports tokens per local slot ([layer][slot]) since the last report; returns the current version. */
  public long reportLoad(long placementVersion, long[] tokensPerSlot) {
    LoadReport.Builder b = LoadReport.newBuilder().setRank(id.rank()).setPodUid(id.podUid())
        .setEpoch(currentEpoch()).setPlacementVersion(placementVersion);
    for (long t : tokensPerSlot) {
      b.addTokensPerSlot(t);
    }
    return placement.reportLoad(b.build()).getPlacementVersion();
  }

  private long currentEpoch() {
    return assignment().map(Assignment::getEpoch).orElse(0L);
  }

  private void attach() {
    synchronized (lock) {
      if (closed) {
        return;
      }
    }
    try {
      JoinResponse joined = membership.join(JoinRequest.newBuilder().setRank(id.rank()).setPodUid(id.podUid())
          .setPodName(id.podName()).setNodeName(id.nodeName()).setKnownEpoch(currentEpoch()).build());
      openWatch();
      scheduleHeartbeats(Duration.ofMillis(Math.max(100, joined.getHeartbeatIntervalMillis())));
      backoff.reset();
    } catch (StatusRuntimeException e) {
      retryOrFail(e);
    }
  }

  private void openWatch() {
    WatchRequest request = WatchRequest.newBuilder().setRank(id.rank()).setPodUid(id.podUid()).build();
    membershipAsync.watch(request, new ClientResponseObserver<WatchRequest, Assignment>() {
      @Override
      public void beforeStart(ClientCallStreamObserver<WatchRequest> call) {
        synchronized (lock) {
          watchCall = call;
        }
      }

      @Override
      public void onNext(Assignment a) {
        synchronized (lock) {
          latest = a;
          lock.notifyAll();
        }
        listeners.forEach(l -> l.accept(a));
      }

      @Override
      public void onError(Throwable t) {
        retryOrFail(Status.fromThrowable(t).asRuntimeException());
      }

      @Override
      public void onCompleted() {
        // The server ends the stream on EXIT or when the deployment is removed; only EXIT is final.
        boolean exited = assignment().map(a -> a.getDirective() == Directive.EXIT).orElse(false);
        if (exited) {
          stopHeartbeats();
        } else {
          retryOrFail(Status.UNAVAILABLE.withDescription("watch stream ended").asRuntimeException());
        }
      }
    });
  }

  private void retryOrFail(StatusRuntimeException e) {
    synchronized (lock) {
      if (closed || e.getStatus().getCode() == Status.Code.CANCELLED && closed) {
        return;
      }
      if (PERMANENT.contains(e.getStatus().getCode())) {
        permanentFailure = e;
        lock.notifyAll();
        LOG.log(Level.SEVERE, "rank " + id.rank() + ": rendezvous refused us: " + e.getStatus());
        return;
      }
    }
    Duration delay = backoff.next();
    LOG.log(Level.INFO, "rank " + id.rank() + ": rendezvous " + e.getStatus() + "; re-attaching in "
        + delay.toMillis() + " ms");
    stopHeartbeats();
    try {
      scheduler.schedule(this::attach, delay.toNanos(), TimeUnit.NANOSECONDS);
    } catch (java.util.concurrent.RejectedExecutionException closing) {
      // close() shut the scheduler down meanwhile.
    }
  }

  private void scheduleHeartbeats(Duration interval) {
    synchronized (lock) {
      if (heartbeats != null) {
        heartbeats.cancel(false);
      }
      heartbeats = scheduler.scheduleAtFixedRate(this::heartbeat, interval.toNanos(), interval.toNanos(),
          TimeUnit.NANOSECONDS);
    }
  }

  private void stopHeartbeats() {
    synchronized (lock) {
      if (heartbeats != null) {
        heartbeats.cancel(false);
        heartbeats = null;
      }
    }
  }

  private void heartbeat() {
    try {
      membership.withDeadlineAfter(5, TimeUnit.SECONDS).heartbeat(HeartbeatRequest.newBuilder()
          .setRank(id.rank()).setPodUid(id.podUid()).setEpoch(currentEpoch()).build());
    } catch (StatusRuntimeException e) {
      // The watch stream notices a lost rendezvous and re-attaches; a missed beat is only logged.
      LOG.log(Level.FINE, "rank " + id.rank() + ": heartbeat failed: " + e.getStatus());
    }
  }

  @Override
  public void close() {
    ClientCallStreamObserver<WatchRequest> call;
    synchronized (lock) {
      closed = true;
      call = watchCall;
      lock.notifyAll();
    }
    stopHeartbeats();
    if (call != null) {
      call.cancel("client closed", null);
    }
    scheduler.shutdownNow();
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    transport.ifPresent(AnswerPollingEventLoop::shutdown);
  }
}
