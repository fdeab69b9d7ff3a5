package io.elasticmoe.worker.rendezvous;

import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.elasticmoe.api.rendezvous.v1alpha1.AddRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.AppendRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.CheckRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.CompareSetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.DeleteKeyRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.GetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.MultiGetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.MultiSetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.NumKeysRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.SetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreError;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.WaitRequest;
import io.elasticmoe.worker.store.KeyValueStore;
import io.elasticmoe.worker.store.StoreTimeoutException;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

/**
 * {@link KeyValueStore} over the rendezvous Store service, scoped to this worker's deployment by its
 * credential.
 *
 * <p>Operations go over {@code Store.Session} streams: one HTTP/2 stream carries many operations, so
 * an operation costs one message each way instead of a call's headers, trailers and auth check.
 * Sessions run their operations in order, so a thread that blocks in {@code get} would hold every other
 * operation of its session; each caller therefore takes a session of its own from a pool (an idle one,
 * or a new one) and returns it afterwards, as each TCPStore client has its own connection.
 *
 * <p>Failures, and how they match the unary path: an operation's own error arrives as its status
 * ({@link StatusRuntimeException} with the server's code, description and details). A session whose
 * stream fails is dropped; an operation that failed with UNAVAILABLE (stream or operation) is sent
 * once more as a unary call, which the channel retries on UNAVAILABLE by its service config. This may
 * repeat an operation the server had executed before the stream broke, exactly as the unary retry can.
 * A server without sessions (UNIMPLEMENTED: an older operator) makes this store use unary calls from
 * then on. Blocking calls pass their timeout to the server (which wakes them on the satisfying write)
 * and wait locally a little longer, so a lost server cannot hang them.
 */
public final class RendezvousKeyValueStore implements KeyValueStore {
  /** Slack over a blocking call's own timeout before the client gives up on it. */
  private static final Duration DEADLINE_SLACK = Duration.ofSeconds(2);

  private final StoreGrpc.StoreBlockingStub unary;
  private final StoreGrpc.StoreStub sessions;
  private final ConcurrentLinkedDeque<StoreSessionCall> idle = new ConcurrentLinkedDeque<>();
  private final LongConsumer answerExpected;
  private volatile boolean sessionsUnsupported;

  /**
   * @param answerExpected told, before an operation is sent on a session, within how many nanoseconds
   *     its answer is expected, when that is soon ({@link AnswerPollingEventLoop})
   */
  RendezvousKeyValueStore(Channel authenticated, LongConsumer answerExpected) {
    this.unary = StoreGrpc.newBlockingStub(authenticated);
    this.answerExpected = answerExpected;
    // Answers are handed to the waiting caller right on the transport thread. Guava's own direct
    // executor (not an equivalent lambda) is what gRPC recognises to skip its serializing queue.
    this.sessions = StoreGrpc.newStub(authenticated).withExecutor(MoreExecutors.directExecutor());
  }

  @Override
  public void set(String key, byte[] value) {
    SetRequest r = SetRequest.newBuilder().setKey(key).setValue(ByteString.copyFrom(value)).build();
    run(StoreRequest.newBuilder().setSet(r), null, response -> null, () -> unary.set(r));
  }

  @Override
  public byte[] get(String key, Duration timeout) throws StoreTimeoutException {
    GetRequest r = GetRequest.newBuilder().setKey(key).setWait(true).setTimeoutMillis(millis(timeout)).build();
    return blocking(List.of(key), timeout, StoreRequest.newBuilder().setGet(r),
        response -> response.getGet().getValue().toByteArray(),
        () -> deadlined(timeout).get(r).getValue().toByteArray());
  }

  @Override
  public void await(List<String> keys, Duration timeout) throws StoreTimeoutException {
    WaitRequest r = WaitRequest.newBuilder().addAllKeys(keys).setTimeoutMillis(millis(timeout)).build();
    blocking(keys, timeout, StoreRequest.newBuilder().setWait(r), response -> null, () -> deadlined(timeout).wait(r));
  }

  @Override
  public long add(String key, long delta) {
    AddRequest r = AddRequest.newBuilder().setKey(key).setDelta(delta).build();
    return run(StoreRequest.newBuilder().setAdd(r), null, response -> response.getAdd().getValue(),
        () -> unary.add(r).getValue());
  }

  @Override
  public boolean deleteKey(String key) {
    DeleteKeyRequest r = DeleteKeyRequest.newBuilder().setKey(key).build();
    return run(StoreRequest.newBuilder().setDeleteKey(r), null, response -> response.getDeleteKey().getExisted(),
        () -> unary.deleteKey(r).getExisted());
  }

  /** TCPStore compare_set: the value after the call. */
  public byte[] compareSet(String key, byte[] expected, byte[] desired) {
    CompareSetRequest r = CompareSetRequest.newBuilder().setKey(key).setExpected(ByteString.copyFrom(expected))
        .setDesired(ByteString.copyFrom(desired)).build();
    return run(StoreRequest.newBuilder().setCompareSet(r), null,
        response -> response.getCompareSet().getValue().toByteArray(),
        () -> unary.compareSet(r).getValue().toByteArray());
  }

  public boolean check(List<String> keys) {
    CheckRequest r = CheckRequest.newBuilder().addAllKeys(keys).build();
    return run(StoreRequest.newBuilder().setCheck(r), null, response -> response.getCheck().getAllExist(),
        () -> unary.check(r).getAllExist());
  }

  public long numKeys() {
    NumKeysRequest r = NumKeysRequest.getDefaultInstance();
    return run(StoreRequest.newBuilder().setNumKeys(r), null, response -> response.getNumKeys().getNumKeys(),
        () -> unary.numKeys(r).getNumKeys());
  }

  public List<byte[]> multiGet(List<String> keys, Duration timeout) throws StoreTimeoutException {
    MultiGetRequest r = MultiGetRequest.newBuilder().addAllKeys(keys).setTimeoutMillis(millis(timeout)).build();
    return blocking(keys, timeout, StoreRequest.newBuilder().setMultiGet(r),
        response -> response.getMultiGet().getValuesList().stream().map(ByteString::toByteArray).toList(),
        () -> deadlined(timeout).multiGet(r).getValuesList().stream().map(ByteString::toByteArray).toList());
  }

  public void multiSet(List<String> keys, List<byte[]> values) {
    MultiSetRequest.Builder b = MultiSetRequest.newBuilder().addAllKeys(keys);
    values.forEach(v -> b.addValues(ByteString.copyFrom(v)));
    MultiSetRequest r = b.build();
    run(StoreRequest.newBuilder().setMultiSet(r), null, response -> null, () -> unary.multiSet(r));
  }

  /** Appends and returns the new length. */
  public long append(String key, byte[] suffix) {
    AppendRequest r = AppendRequest.newBuilder().setKey(key).setValue(ByteString.copyFrom(suffix)).build();
    return run(StoreRequest.newBuilder().setAppend(r), null, response -> response.getAppend().getLength(),
        () -> unary.append(r).getLength());
  }

  /**
   * Ends the idle sessions. The channel belongs to the {@link RendezvousClient}: the store stays
   * usable and opens sessions again when called.
   */
  @Override
  public void close() {
    for (StoreSessionCall s; (s = idle.pollFirst()) != null; ) {
      s.finish();
    }
  }

  private <T> T blocking(List<String> keys, Duration timeout, StoreRequest.Builder request,
      Function<StoreResponse, T> answer, Supplier<T> unaryCall) throws StoreTimeoutException {
    try {
      return run(request, timeout.plus(DEADLINE_SLACK), answer, unaryCall);
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED) {
        throw new StoreTimeoutException(keys, timeout);
      }
      throw e;
    }
  }

  /**
   * Runs one operation on a pooled session, or as the unary call when sessions are unsupported or
   * the operation met UNAVAILABLE. {@code localWait} bounds the wait for the answer (null: none).
   */
  private <T> T run(StoreRequest.Builder request, Duration localWait, Function<StoreResponse, T> answer,
      Supplier<T> unaryCall) {
    if (sessionsUnsupported) {
      return unaryCall.get();
    }
    StoreSessionCall session = idle.pollFirst();
    if (session == null) {
      session = StoreSessionCall.open(sessions, answerExpected);
    }
    StoreResponse response;
    try {
      response = session.call(request, localWait == null ? -1 : localWait.toNanos());
    } catch (StatusRuntimeException streamFailed) {
      Status.Code code = streamFailed.getStatus().getCode();
      if (code == Status.Code.UNIMPLEMENTED) {
        sessionsUnsupported = true;
        return unaryCall.get();
      }
      if (code == Status.Code.UNAVAILABLE) {
        return unaryCall.get();
      }
      throw streamFailed;
    } catch (TimeoutException e) {
      throw Status.DEADLINE_EXCEEDED.withDescription(
          "no answer from the rendezvous within " + localWait.toMillis() + " ms").asRuntimeException();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw Status.CANCELLED.withDescription("interrupted while waiting for the rendezvous").withCause(e)
          .asRuntimeException();
    }
    if (session.usable()) {
      idle.offerFirst(session);
    }
    if (response.hasError()) {
      StatusRuntimeException failed = asStatus(response.getError());
      if (failed.getStatus().getCode() == Status.Code.UNAVAILABLE) {
        return unaryCall.get();
      }
      throw failed;
    }
    return answer.apply(response);
  }

  /** StoreError is google.rpc.Status field for field: reparse it to keep the details readable. */
  private static StatusRuntimeException asStatus(StoreError error) {
    try {
      return StatusProto.toStatusRuntimeException(com.google.rpc.Status.parseFrom(error.toByteString()));
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("a StoreError is always a valid google.rpc.Status", e);
    }
  }

  private StoreGrpc.StoreBlockingStub deadlined(Duration timeout) {
    return unary.withDeadlineAfter(timeout.plus(DEADLINE_SLACK).toNanos(), TimeUnit.NANOSECONDS);
  }

  private static long millis(Duration timeout) {
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("store timeout is " + timeout + "; it must be positive");
    }
    return Math.max(1, timeout.toMillis());
  }
}
