package io.elasticmoe.worker.rendezvous;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.common.util.concurrent.MoreExecutors;
import io.elasticmoe.api.rendezvous.v1alpha1.AddRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.AddResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreResponse;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.SelectStrategy;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The polling transport loop: when it polls, and store sessions over a real TCP connection on it. */
class AnswerPollingEventLoopTest {
  private static final io.grpc.netty.shaded.io.netty.util.IntSupplier READY_NOW = () -> 3;

  @Test
  void pollsOnlyWhileAnAnswerIsDueAndRunsQueuedTasksFirst() throws Exception {
    assumeTrue(AnswerPollingEventLoop.available(), "Netty's native epoll transport does not load here");
    AnswerPollingEventLoop loop = new AnswerPollingEventLoop();
    try {
      assertThat(loop.calculateStrategy(READY_NOW, false)).as("idle: sleep in epoll_wait")
          .isEqualTo(SelectStrategy.SELECT);
      loop.expectAnswerWithin(TimeUnit.MILLISECONDS.toNanos(200));
      assertThat(loop.calculateStrategy(READY_NOW, false)).isEqualTo(SelectStrategy.BUSY_WAIT);
      assertThat(loop.calculateStrategy(READY_NOW, true)).as("queued tasks: a non-blocking poll, then the tasks")
          .isEqualTo(3);
      loop.expectAnswerWithin(0);
      Thread.sleep(TimeUnit.NANOSECONDS.toMillis(AnswerPollingEventLoop.LINGER_NANOS) + 5);
      assertThat(loop.calculateStrategy(READY_NOW, false)).as("past the answer and the linger")
          .isEqualTo(SelectStrategy.SELECT);
    } finally {
      loop.shutdown();
    }
  }

  @Test
  void storeSessionsRunOverTcpOnThePollingLoop() throws Exception {
    assumeTrue(AnswerPollingEventLoop.available(), "Netty's native epoll transport does not load here");
    Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).directExecutor()
        .addService(new StoreGrpc.StoreImplBase() {
          @Override
          public StreamObserver<StoreRequest> session(StreamObserver<StoreResponse> out) {
            return new StreamObserver<>() {
              @Override
              public void onNext(StoreRequest r) {
                out.onNext(StoreResponse.newBuilder().setId(r.getId())
                    .setAdd(AddResponse.newBuilder().setValue(r.getAdd().getDelta())).build());
              }

              @Override
              public void onError(Throwable t) {}

              @Override
              public void onCompleted() {
                out.onCompleted();
              }
            };
          }
        }).build().start();
    AnswerPollingEventLoop loop = new AnswerPollingEventLoop();
    ManagedChannel channel =
        loop.configure(NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext()).build();
    try {
      StoreSessionCall session = StoreSessionCall.open(
          StoreGrpc.newStub(channel).withExecutor(MoreExecutors.directExecutor()), loop::expectAnswerWithin);
      for (long i = 1; i <= 2_000; i++) {
        StoreResponse r = session.call(StoreRequest.newBuilder().setAdd(AddRequest.newBuilder().setKey("k").setDelta(i)),
            TimeUnit.SECONDS.toNanos(10));
        assertThat(r.getId()).isEqualTo(i);
        assertThat(r.getAdd().getValue()).isEqualTo(i);
      }
      assertThat(Thread.getAllStackTraces().keySet()).anySatisfy(
          t -> assertThat(t.getName()).startsWith("rendezvous-transport"));
      session.finish();
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      loop.shutdown();
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
