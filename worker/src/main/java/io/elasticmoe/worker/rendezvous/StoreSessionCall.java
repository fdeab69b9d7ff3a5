package io.elasticmoe.worker.rendezvous;

import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongConsumer;

/**
 * The client end of one open {@code Store.Session}, used by one thread at a time: {@link #call} sends
 * one operation and waits for its answer (the server answers in order, one at a time). The transport
 * thread that reads the answer hands it over through a field; the caller spins for it while answers
 * have lately come fast, and parks otherwise.
 *
 * <p>Why spin at all: a parked caller is woken by the transport thread (a futex wake, then the
 * scheduler bringing the caller's core back), which costs tens of microseconds, as much as the answer
 * itself on an idle host (docs/benchmarks/rendezvous.md). A store operation is a control-plane call
 * that a worker makes a few times per rendezvous, so a bounded spin on it costs little CPU in total.
 * The spin is adaptive so that it never burns a core on answers that are slow anyway (many clients
 * on few cores, a loaded server): it lasts twice the running estimate of the answer time, and only
 * while that estimate is below half of {@link #MAX_SPIN_NANOS}; slower answers are waited for parked.
 *
 * <p>Once the stream has failed or ended, every call fails with that status; such a session is
 * thrown away, never reused.
 */
final class StoreSessionCall implements ClientResponseObserver<StoreRequest, StoreResponse> {
  /** The longest spin for one answer; a park/unpark round trip costs well below this. */
  static final long MAX_SPIN_NANOS = 200_000;
  /** The answer-time estimate a new session starts with: a round trip on one host. */
  private static final long INITIAL_ESTIMATE_NANOS = 50_000;

  private ClientCallStreamObserver<StoreRequest> requests;
  // The hand-off: the caller clears answer and names itself waiter, then sends; the transport thread
  // stores answer (and when it arrived) or ended, then unparks the waiter if it announced parking.
  // All volatile: the store to answer and the read of parked (and the caller's mirror image) must not
  // be reordered, or a caller could park after the last unpark.
  private volatile StoreResponse answer;
  private volatile long answeredAt;
  private volatile StatusRuntimeException ended;
  private volatile Thread waiter;
  private volatile boolean parked;
  private long nextId;
  // Caller-only: a moving average of send-to-answer time, from the transport thread's arrival stamps,
  // so time spent waking a parked caller does not inflate it.
  private long answerEstimateNanos = INITIAL_ESTIMATE_NANOS;
  private final LongConsumer answerExpected;

  private StoreSessionCall(LongConsumer answerExpected) {
    this.answerExpected = answerExpected;
  }

  /** Opens a session; {@code answerExpected} hears of each operation whose caller will spin for its answer. */
  static StoreSessionCall open(StoreGrpc.StoreStub stub, LongConsumer answerExpected) {
    StoreSessionCall call = new StoreSessionCall(answerExpected);
    stub.session(call);
    return call;
  }

  @Override
  public void beforeStart(ClientCallStreamObserver<StoreRequest> call) {
    requests = call;
  }

  /**
   * Sends {@code request} and waits up to {@code timeoutNanos} (no limit when negative) for its answer.
   *
   * @throws StatusRuntimeException the session's stream failed (the operation's outcome is unknown)
   * @throws TimeoutException no answer in time; the session is cancelled, which withdraws the
   *     operation's waiter on the server
   */
  StoreResponse call(StoreRequest.Builder request, long timeoutNanos) throws TimeoutException, InterruptedException {
    answer = null;
    waiter = Thread.currentThread();
    StatusRuntimeException failed = ended;
    if (failed != null) {
      throw failed;
    }
    long spin = spinNanos();
    if (spin > 0) {
      answerExpected.accept(spin);
    }
    long sent = System.nanoTime();
    requests.onNext(request.setId(++nextId).build());
    StoreResponse response;
    try {
      response = await(sent, spin, timeoutNanos);
    } catch (TimeoutException | InterruptedException e) {
      cancel(e instanceof TimeoutException ? "the operation ran past its timeout" : "the caller was interrupted");
      throw e;
    }
    answerEstimateNanos += (answeredAt - sent - answerEstimateNanos) / 8;
    return response;
  }

  /** How long the next call spins before it parks: 0 while answers are slow. */
  long spinNanos() {
    return answerEstimateNanos <= MAX_SPIN_NANOS / 2 ? 2 * answerEstimateNanos : 0;
  }

  private StoreResponse await(long sent, long spin, long timeoutNanos) throws TimeoutException, InterruptedException {
    long spinUntil = sent + spin;
    StoreResponse r;
    while ((r = answer) == null && ended == null && System.nanoTime() - spinUntil < 0) {
      Thread.onSpinWait();
    }
    while (r == null) {
      StatusRuntimeException failed = ended;
      if (failed != null) {
        throw failed;
      }
      long left = timeoutNanos < 0 ? Long.MAX_VALUE : sent + timeoutNanos - System.nanoTime();
      if (left <= 0) {
        throw new TimeoutException();
      }
      parked = true;
      if (answer == null && ended == null) {
        if (timeoutNanos < 0) {
          LockSupport.park(this);
        } else {
          LockSupport.parkNanos(this, left);
        }
      }
      parked = false;
      if (Thread.interrupted()) {
        throw new InterruptedException();
      }
      r = answer;
    }
    return r;
  }

  boolean usable() {
    return ended == null;
  }

  void cancel(String why) {
    requests.cancel(why, null);
  }

  /** Half-closes an idle session: the server ends it cleanly. */
  void finish() {
    requests.onCompleted();
  }

  @Override
  public void onNext(StoreResponse response) {
    answeredAt = System.nanoTime();
    answer = response;
    wake();
  }

  @Override
  public void onError(Throwable t) {
    end(Status.fromThrowable(t).asRuntimeException());
  }

  @Override
  public void onCompleted() {
    end(Status.UNAVAILABLE.withDescription("the server ended the store session").asRuntimeException());
  }

  private void end(StatusRuntimeException status) {
    ended = status;
    wake();
  }

  private void wake() {
    if (parked) {
      LockSupport.unpark(waiter);
    }
  }
}
