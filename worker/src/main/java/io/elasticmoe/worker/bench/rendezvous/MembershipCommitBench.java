package io.elasticmoe.worker.bench.rendezvous;

import io.elasticmoe.api.rendezvous.v1alpha1.Assignment;
import io.elasticmoe.api.rendezvous.v1alpha1.Directive;
import io.elasticmoe.api.rendezvous.v1alpha1.JoinRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.LeaveRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.MembershipGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.WatchRequest;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;

/**
 * Membership latency: from the start of the last planned rank's Join to the moment every one of the
 * {@code watchers} ranks holds the committed assignment of the new epoch on its Watch stream.
 *
 * <p>Each round: the last rank leaves (the others move to a smaller epoch), then a new pod of that rank
 * joins (the world is complete again, so the epoch commits at once) and opens its Watch, as a worker
 * does. Every watcher has its own TCP connection. The timed span covers Join, the commit with its
 * persistence, fan-out to the existing watchers and the joiner's own Watch call.
 */
public final class MembershipCommitBench {
  private final String target;
  private final Metadata auth = new Metadata();
  private final int watchers;
  private final List<ManagedChannel> channels = new ArrayList<>();
  private final List<MembershipGrpc.MembershipStub> stubs = new ArrayList<>();
  private volatile long targetEpoch = -1;
  private volatile CountDownLatch arrived = new CountDownLatch(0);
  private final AtomicLong lastArrivalNanos = new AtomicLong();
  private long epoch;

  public MembershipCommitBench(String target, String token, String deployment, int watchers) {
    this.target = target;
    this.watchers = watchers;
    auth.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    auth.put(Metadata.Key.of("x-elasticmoe-deployment", Metadata.ASCII_STRING_MARSHALLER), deployment);
  }

  /**
   * Runs {@code warmupRounds} untimed rounds (the server's JIT warms up, as in a long-lived operator),
   * then {@code rounds} timed ones; returns the timed latencies in nanoseconds, sorted.
   */
  public long[] run(int warmupRounds, int rounds, IntConsumer progress) throws InterruptedException {
    try {
      for (int r = 0; r < watchers; r++) {
        ManagedChannel c = NettyChannelBuilder.forTarget(target).usePlaintext().build();
        channels.add(c);
        stubs.add(MembershipGrpc.newStub(ClientInterceptors.intercept(c, MetadataUtils.newAttachHeadersInterceptor(auth))));
      }
      int last = watchers - 1;
      expect(1, watchers);
      for (int r = 0; r < watchers; r++) {
        join(r, uid(r, 0));
        watch(r, uid(r, 0));
      }
      await("the first epoch");
      long[] latencies = new long[rounds];
      for (int round = 1; round <= warmupRounds + rounds; round++) {
        expect(epoch + 1, watchers - 1);
        blocking(last).leave(LeaveRequest.newBuilder().setRank(last).setPodUid(uid(last, round - 1))
            .setEpoch(epoch).setReason("bench round " + round).build());
        await("the epoch without rank " + last);
        expect(epoch + 1, watchers);
        long start = System.nanoTime();
        join(last, uid(last, round));
        watch(last, uid(last, round));
        await("the epoch with rank " + last + " back");
        if (round > warmupRounds) {
          latencies[round - warmupRounds - 1] = lastArrivalNanos.get() - start;
          progress.accept(round - warmupRounds);
        }
      }
      Arrays.sort(latencies);
      return latencies;
    } finally {
      channels.forEach(ManagedChannel::shutdownNow);
    }
  }

  private static String uid(int rank, int generation) {
    return "bench-" + rank + "-" + generation;
  }

  private MembershipGrpc.MembershipBlockingStub blocking(int rank) {
    return MembershipGrpc.newBlockingStub(
        ClientInterceptors.intercept(channels.get(rank), MetadataUtils.newAttachHeadersInterceptor(auth)));
  }

  private void join(int rank, String uid) {
    blocking(rank).join(JoinRequest.newBuilder().setRank(rank).setPodUid(uid).build());
  }

  private void expect(long nextEpoch, int count) {
    lastArrivalNanos.set(0);
    arrived = new CountDownLatch(count);
    targetEpoch = nextEpoch;
  }

  private void await(String what) throws InterruptedException {
    if (!arrived.await(30, TimeUnit.SECONDS)) {
      throw new IllegalStateException(
          "membership bench: " + arrived.getCount() + " watchers did not receive " + what + " (epoch "
              + targetEpoch + ") within 30 s");
    }
    epoch = targetEpoch;
  }

  private void watch(int rank, String uid) {
    stubs.get(rank).watch(WatchRequest.newBuilder().setRank(rank).setPodUid(uid).build(),
        new StreamObserver<>() {
          @Override
          public void onNext(Assignment a) {
            if (a.getEpoch() == targetEpoch && a.getDirective() == Directive.RUN) {
              long now = System.nanoTime();
              lastArrivalNanos.accumulateAndGet(now, Math::max);
              arrived.countDown();
            }
          }

          @Override
          public void onError(Throwable t) {}

          @Override
          public void onCompleted() {}
        });
  }
}
