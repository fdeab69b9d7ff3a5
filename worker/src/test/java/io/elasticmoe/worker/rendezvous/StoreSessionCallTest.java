package io.elasticmoe.worker.rendezvous;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.common.util.concurrent.MoreExecutors;
import io.elasticmoe.api.rendezvous.v1alpha1.AddResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreResponse;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The session client's hand-off and adaptive spin, against a Store.Session server whose answer delay
 * the test sets: answers echo the request's id and its Add delta, so a mixed-up hand-off shows.
 */
class StoreSessionCallTest {
  private static final long NO_LIMIT = -1;
  private final ScheduledExecutorService answers = Executors.newSingleThreadScheduledExecutor();
  private final AtomicLong delayMicros = new AtomicLong();
  private final CountDownLatch cancelled = new CountDownLatch(1);
  private volatile Status failWith;
  private Server server;
  private ManagedChannel channel;
  private final List<Long> expectations = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server = InProcessServerBuilder.forName(name).directExecutor().addService(new StoreGrpc.StoreImplBase() {
      @Override
      public StreamObserver<StoreRequest> session(StreamObserver<StoreResponse> out) {
        ((ServerCallStreamObserver<StoreResponse>) out).setOnCancelHandler(cancelled::countDown);
        return new StreamObserver<>() {
          @Override
          public void onNext(StoreRequest r) {
            Runnable answer = () -> {
              if (failWith != null) {
                out.onError(failWith.asRuntimeException());
                return;
              }
              out.onNext(StoreResponse.newBuilder().setId(r.getId())
                  .setAdd(AddResponse.newBuilder().setValue(r.getAdd().getDelta())).build());
            };
            long delay = delayMicros.get();
            if (delay == 0) {
              answer.run();
            } else {
              answers.schedule(answer, delay, TimeUnit.MICROSECONDS);
            }
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
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    answers.shutdownNow();
  }

  private StoreSessionCall open() {
    return StoreSessionCall.open(StoreGrpc.newStub(channel).withExecutor(MoreExecutors.directExecutor()),
        nanos -> {
          synchronized (expectations) {
            expectations.add(nanos);
          }
        });
  }

  private static StoreRequest.Builder add(long delta) {
    return StoreRequest.newBuilder().setAdd(io.elasticmoe.api.rendezvous.v1alpha1.AddRequest.newBuilder()
        .setKey("k").setDelta(delta));
  }

  private static long answerTo(StoreSessionCall session, long delta) throws Exception {
    StoreResponse r = session.call(add(delta), NO_LIMIT);
    return r.getAdd().getValue();
  }

  @Test
  void eachCallGetsItsOwnAnswerWhetherItSpinsOrParks() throws Exception {
    StoreSessionCall session = open();
    for (long i = 1; i <= 200; i++) {
      // Alternate immediate answers (caught spinning) with 1 ms ones (past any spin: the caller parks).
      delayMicros.set(i % 2 == 0 ? 0 : 1_000);
      assertThat(answerTo(session, i)).isEqualTo(i);
    }
    assertThat(session.usable()).isTrue();
  }

  @Test
  void spinsWhileAnswersComeFastAndParksRightAwayOnceTheyAreSlow() throws Exception {
    StoreSessionCall session = open();
    answerUntilSpinning(session);
    assertThat(session.spinNanos()).isPositive().isLessThanOrEqualTo(StoreSessionCall.MAX_SPIN_NANOS);
    delayMicros.set(2 * StoreSessionCall.MAX_SPIN_NANOS / 1_000);
    for (int i = 0; i < 50; i++) {
      answerTo(session, i);
    }
    assertThat(session.spinNanos()).isZero();
    synchronized (expectations) {
      expectations.clear();
    }
    answerTo(session, 1);
    synchronized (expectations) {
      assertThat(expectations).as("no spin, so the transport is not told to poll").isEmpty();
    }
    delayMicros.set(0);
    answerUntilSpinning(session);
    assertThat(session.spinNanos()).as("fast answers bring the spin back").isPositive();
    synchronized (expectations) {
      assertThat(expectations).isNotEmpty()
          .allSatisfy(n -> assertThat(n).isPositive().isLessThanOrEqualTo(StoreSessionCall.MAX_SPIN_NANOS));
    }
  }

  /**
   * Immediate answers until the session's estimate says spin: 50 usually do it, but on a loaded machine
   * (CI's two cores during a full build) single answers can take longer than the spin threshold, so up to
   * 20 rounds of 50 before the caller's assertion decides.
   */
  private static void answerUntilSpinning(StoreSessionCall session) throws Exception {
    for (int round = 0; round < 20 && (round == 0 || session.spinNanos() == 0); round++) {
      for (int i = 0; i < 50; i++) {
        answerTo(session, i);
      }
    }
  }

  @Test
  void aStreamFailureWakesTheParkedCallerWithItsStatus() throws Exception {
    StoreSessionCall session = open();
    delayMicros.set(20_000);
    failWith = Status.UNAVAILABLE.withDescription("operator restarting");
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> answerTo(session, 1));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(e.getStatus().getDescription()).isEqualTo("operator restarting");
    assertThat(session.usable()).isFalse();
    assertThrows(StatusRuntimeException.class, () -> answerTo(session, 2));
  }

  @Test
  void noAnswerInTimeCancelsTheSession() throws Exception {
    StoreSessionCall session = open();
    delayMicros.set(5_000_000);
    long start = System.nanoTime();
    assertThrows(TimeoutException.class, () -> session.call(add(1), TimeUnit.MILLISECONDS.toNanos(30)));
    assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(30));
    assertThat(cancelled.await(5, TimeUnit.SECONDS)).as("the server saw the cancel").isTrue();
  }

  @Test
  void anInterruptedCallerStopsWaitingAndCancelsTheSession() throws Exception {
    StoreSessionCall session = open();
    delayMicros.set(5_000_000);
    Thread caller = Thread.currentThread();
    answers.schedule(caller::interrupt, 20, TimeUnit.MILLISECONDS);
    assertThrows(InterruptedException.class, () -> answerTo(session, 1));
    assertThat(cancelled.await(5, TimeUnit.SECONDS)).isTrue();
  }
}
