package io.elasticmoe.operator.rendezvous.grpc;

import io.elasticmoe.api.rendezvous.v1alpha1.StoreError;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreResponse;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * One {@code Store.Session} stream: runs its operations one at a time, in arrival order, each with its
 * unary call's semantics ({@link StoreOperations}), and answers each in order.
 *
 * <p>Ordering comes from flow control, not from a queue: the session asks the transport for the next
 * request only once the current one is answered. A blocking operation whose keys are missing therefore
 * holds the rest of the session (as a TCPStore client's blocking get holds its connection) without
 * holding a thread: its future is completed by the core's waiter, on the thread of the write that
 * satisfies it, and that thread answers and asks for the next request. Every other operation is
 * answered on the transport thread that delivered it, with no hand-off.
 *
 * <p>An operation's failure becomes its response's {@code error} and the session goes on. When the
 * client cancels the stream (or its deadline passes) the pending operation's future is cancelled,
 * which withdraws its waiter from the core.
 */
final class StoreSession implements StreamObserver<StoreRequest> {
  private static final Map<StoreRequest.OpCase, String> METHODS = new EnumMap<>(StoreRequest.OpCase.class);

  static {
    // Metric method names as the unary ones spell them: COMPARE_SET -> Session/CompareSet.
    for (StoreRequest.OpCase op : StoreRequest.OpCase.values()) {
      StringBuilder name = new StringBuilder("Session/");
      for (String word : op.name().split("_")) {
        name.append(word.charAt(0)).append(word.substring(1).toLowerCase(java.util.Locale.ROOT));
      }
      METHODS.put(op, name.toString());
    }
  }

  private final StoreOperations operations;
  private final RendezvousMetrics metrics;
  private final ServerCallStreamObserver<StoreResponse> out;
  private final String namespace;
  private final Deadline deadline;

  // Guarded by this: whether an operation is between arrival and answer, the one that waits for keys,
  // whether the client half-closed, and whether the call ended (cancelled, or completed by us).
  private boolean busy;
  private CompletableFuture<StoreResponse> pending;
  private boolean halfClosed;
  private boolean ended;

  /**
   * Opens a session for the authenticated caller: {@code namespace} and {@code deadline} come from the
   * opening call's context, because a blocked operation resumes on another call's thread.
   */
  StoreSession(StoreOperations operations, RendezvousMetrics metrics, StreamObserver<StoreResponse> responses,
      String namespace, Deadline deadline) {
    if (!(responses instanceof ServerCallStreamObserver<StoreResponse> server)) {
      throw new IllegalStateException("a Store.Session needs gRPC's server call observer, got " + responses);
    }
    this.operations = operations;
    this.metrics = metrics;
    this.out = server;
    this.namespace = namespace;
    this.deadline = deadline;
    out.disableAutoRequest();
    out.setOnCancelHandler(this::cancel);
    out.request(1);
  }

  @Override
  public void onNext(StoreRequest request) {
    long start = System.nanoTime();
    synchronized (this) {
      if (ended) {
        return;
      }
      busy = true;
    }
    CompletableFuture<StoreResponse> answer;
    try {
      answer = execute(request);
    } catch (RuntimeException e) {
      answerAndContinue(failure(request, e, start));
      return;
    }
    if (answer.isDone()) {
      answerAndContinue(answer.isCompletedExceptionally() ? failure(request, answer.exceptionNow(), start)
          : ok(request, answer.resultNow(), start));
      return;
    }
    synchronized (this) {
      if (ended) {
        answer.cancel(false);
        return;
      }
      pending = answer;
    }
    answer.whenComplete((response, thrown) -> {
      synchronized (this) {
        if (ended) {
          // Cancelled with the call: nobody to answer.
          return;
        }
        pending = null;
      }
      answerAndContinue(thrown == null ? ok(request, response, start) : failure(request, thrown, start));
    });
  }

  @Override
  public void onError(Throwable t) {
    cancel();
  }

  @Override
  public void onCompleted() {
    // With an operation in flight, its answer ends the call instead (answerAndContinue).
    boolean finish;
    synchronized (this) {
      halfClosed = true;
      finish = !busy && !ended;
      ended |= finish;
    }
    if (finish) {
      out.onCompleted();
    }
  }

  private CompletableFuture<StoreResponse> execute(StoreRequest r) {
    StoreResponse.Builder b = StoreResponse.newBuilder().setId(r.getId());
    return switch (r.getOpCase()) {
      case SET -> done(b.setSet(operations.set(namespace, r.getSet())));
      case GET -> r.getGet().getWait()
          ? StoreOperations.answer(operations.getWaiting(namespace, r.getGet(), deadline), g -> b.setGet(g).build())
          : done(b.setGet(operations.getExisting(namespace, r.getGet())));
      case WAIT -> StoreOperations.answer(operations.await(namespace, r.getWait(), deadline), w -> b.setWait(w).build());
      case ADD -> done(b.setAdd(operations.add(namespace, r.getAdd())));
      case COMPARE_SET -> done(b.setCompareSet(operations.compareSet(namespace, r.getCompareSet())));
      case CHECK -> done(b.setCheck(operations.check(namespace, r.getCheck())));
      case DELETE_KEY -> done(b.setDeleteKey(operations.deleteKey(namespace, r.getDeleteKey())));
      case NUM_KEYS -> done(b.setNumKeys(operations.numKeys(namespace)));
      case MULTI_GET ->
          StoreOperations.answer(operations.multiGet(namespace, r.getMultiGet(), deadline), m -> b.setMultiGet(m).build());
      case MULTI_SET -> done(b.setMultiSet(operations.multiSet(namespace, r.getMultiSet())));
      case APPEND -> done(b.setAppend(operations.append(namespace, r.getAppend())));
      case OP_NOT_SET -> throw new InvalidRequestException(
          "op", "is not set in request " + Long.toUnsignedString(r.getId()) + "; set one of the Store operations");
    };
  }

  private static CompletableFuture<StoreResponse> done(StoreResponse.Builder response) {
    return CompletableFuture.completedFuture(response.build());
  }

  private StoreResponse ok(StoreRequest request, StoreResponse response, long start) {
    metrics.record("Store", METHODS.get(request.getOpCase()), Status.Code.OK, System.nanoTime() - start);
    return response;
  }

  private StoreResponse failure(StoreRequest request, Throwable thrown, long start) {
    StatusRuntimeException status = StatusMapper.toStatus(thrown);
    metrics.record("Store", METHODS.get(request.getOpCase()), status.getStatus().getCode(), System.nanoTime() - start);
    com.google.rpc.Status details = StatusProto.fromThrowable(status);
    return StoreResponse.newBuilder()
        .setId(request.getId())
        .setError(StoreError.newBuilder()
            .setCode(details.getCode())
            .setMessage(details.getMessage())
            .addAllDetails(details.getDetailsList()))
        .build();
  }

  /** Answers the operation in flight, then ends the call (client half-closed) or asks for the next one. */
  private void answerAndContinue(StoreResponse response) {
    // Only one operation is in flight (flow control), so answers never race each other; a half-close
    // that arrives meanwhile waits for this answer (busy), so onCompleted never overtakes it.
    synchronized (this) {
      if (ended) {
        return;
      }
    }
    out.onNext(response);
    boolean finish;
    synchronized (this) {
      busy = false;
      finish = halfClosed && !ended;
      ended |= finish;
    }
    if (finish) {
      out.onCompleted();
    } else {
      out.request(1);
    }
  }

  private void cancel() {
    CompletableFuture<StoreResponse> waiting;
    synchronized (this) {
      ended = true;
      waiting = pending;
      pending = null;
    }
    if (waiting != null) {
      waiting.cancel(false);
    }
  }
}
