package io.elasticmoe.worker.rendezvous;

import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The client end of one open {@code Store.Session}, used by one thread at a time: {@link #call} sends
 * one operation and waits for its answer (the server answers in order, one at a time). The answer is
 * handed over on the transport thread that read it; the caller spins briefly for it before parking.
 *
 * <p>Once the stream has failed or ended, every call fails with that status; such a session is
 * thrown away, never reused.
 */
final class StoreSessionCall implements ClientResponseObserver<StoreRequest, StoreResponse> {
  private static final long SPIN_NANOS = 50_000;
  private ClientCallStreamObserver<StoreRequest> requests;
  // Written by the caller, read by the transport thread; ended the other way round. Both volatile,
  // so a failure that races a new call is seen by one side or the other.
  private volatile CompletableFuture<StoreResponse> inflight;
  private volatile StatusRuntimeException ended;
  private long nextId;

  static StoreSessionCall open(StoreGrpc.StoreStub stub) {
    StoreSessionCall call = new StoreSessionCall();
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
    CompletableFuture<StoreResponse> answer = new CompletableFuture<>();
    inflight = answer;
    StatusRuntimeException failed = ended;
    if (failed != null) {
      throw failed;
    }
    requests.onNext(request.setId(++nextId).build());
    // Most answers arrive within tens of microseconds; spinning that long first saves the caller the
    // wake-up from park, which under load costs more than the answer (docs/benchmarks/rendezvous.md:
    // 1.5-1.9x the single-client throughput on the 2-core VM). Longer waits park as before.
    long spinUntil = System.nanoTime() + SPIN_NANOS;
    while (!answer.isDone() && System.nanoTime() - spinUntil < 0) {
      Thread.onSpinWait();
    }
    try {
      return timeoutNanos < 0 ? answer.get() : answer.get(timeoutNanos, TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      throw (StatusRuntimeException) e.getCause();
    } catch (TimeoutException | InterruptedException e) {
      cancel(e instanceof TimeoutException ? "the operation ran past its timeout" : "the caller was interrupted");
      throw e;
    }
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
    inflight.complete(response);
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
    CompletableFuture<StoreResponse> waiting = inflight;
    if (waiting != null) {
      waiting.completeExceptionally(status);
    }
  }
}
