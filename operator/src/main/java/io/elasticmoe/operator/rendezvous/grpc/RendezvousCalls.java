package io.elasticmoe.operator.rendezvous.grpc;

import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Completes unary calls from domain results: the response or the mapped status ({@link StatusMapper}),
 * and one latency sample per call. For blocking calls it withdraws the pending future when the client
 * cancels or its deadline passes, so a gone client leaves no waiter behind.
 */
public final class RendezvousCalls {
  /** TCPStore's default timeout, for blocking calls that give neither a timeout nor a deadline. */
  public static final Duration DEFAULT_WAIT = Duration.ofSeconds(300);
  /** Longest blocking call accepted. */
  public static final Duration MAX_WAIT = Duration.ofHours(1);

  private final String service;
  private final RendezvousMetrics metrics;

  public RendezvousCalls(String service, RendezvousMetrics metrics) {
    this.service = service;
    this.metrics = metrics;
  }

  public <T> void unary(String method, StreamObserver<T> out, Supplier<T> body) {
    long start = System.nanoTime();
    T response;
    try {
      response = body.get();
    } catch (RuntimeException e) {
      fail(method, out, e, start);
      return;
    }
    out.onNext(response);
    out.onCompleted();
    metrics.record(service, method, Status.Code.OK, System.nanoTime() - start);
  }

  public <T, R> void async(
      String method, StreamObserver<R> out, Supplier<CompletableFuture<T>> call, Function<T, R> response) {
    long start = System.nanoTime();
    CompletableFuture<T> pending;
    try {
      pending = call.get();
    } catch (RuntimeException e) {
      fail(method, out, e, start);
      return;
    }
    if (out instanceof ServerCallStreamObserver<R> server) {
      server.setOnCancelHandler(() -> pending.cancel(false));
    }
    pending.whenComplete(
        (value, failure) -> {
          if (failure != null) {
            fail(method, out, failure, start);
            return;
          }
          R answer;
          try {
            answer = response.apply(value);
          } catch (RuntimeException e) {
            fail(method, out, e, start);
            return;
          }
          out.onNext(answer);
          out.onCompleted();
          metrics.record(service, method, Status.Code.OK, System.nanoTime() - start);
        });
  }

  /**
   * The timeout of a blocking call: {@code timeoutMillis} when set, else what is left of the call's
   * {@code deadline} (null when it has none), else {@link #DEFAULT_WAIT}.
   */
  public static Duration blockingTimeout(String field, long timeoutMillis, Deadline deadline) {
    if (timeoutMillis < 0 || timeoutMillis > MAX_WAIT.toMillis()) {
      throw new InvalidRequestException(
          field,
          "is " + Long.toUnsignedString(timeoutMillis) + "; it must be at most " + MAX_WAIT.toMillis() + " (1 h)");
    }
    if (timeoutMillis > 0) {
      return Duration.ofMillis(timeoutMillis);
    }
    if (deadline != null) {
      // The transport cancels the call at its deadline too; this bound only keeps the waiter finite.
      return Duration.ofNanos(Math.max(1, deadline.timeRemaining(TimeUnit.NANOSECONDS)));
    }
    return DEFAULT_WAIT;
  }

  private void fail(String method, StreamObserver<?> out, Throwable failure, long start) {
    StatusRuntimeException status = StatusMapper.toStatus(failure);
    metrics.record(service, method, status.getStatus().getCode(), System.nanoTime() - start);
    out.onError(status);
  }
}
