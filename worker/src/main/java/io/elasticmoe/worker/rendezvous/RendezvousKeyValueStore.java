package io.elasticmoe.worker.rendezvous;

import com.google.protobuf.ByteString;
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
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.WaitRequest;
import io.elasticmoe.worker.store.KeyValueStore;
import io.elasticmoe.worker.store.StoreTimeoutException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@link KeyValueStore} over the rendezvous Store service, scoped to this worker's deployment by its
 * credential. Blocking calls pass their timeout to the server (which wakes them on the satisfying
 * write) and bound the call with a slightly longer gRPC deadline, so a lost server cannot hang them.
 * Other failures surface as {@link StatusRuntimeException} with the server's code and description.
 */
public final class RendezvousKeyValueStore implements KeyValueStore {
  /** Slack over a blocking call's own timeout before the transport gives up on it. */
  private static final Duration DEADLINE_SLACK = Duration.ofSeconds(2);

  private final StoreGrpc.StoreBlockingStub stub;

  RendezvousKeyValueStore(StoreGrpc.StoreBlockingStub stub) {
    this.stub = stub;
  }

  @Override
  public void set(String key, byte[] value) {
    stub.set(SetRequest.newBuilder().setKey(key).setValue(ByteString.copyFrom(value)).build());
  }

  @Override
  public byte[] get(String key, Duration timeout) throws StoreTimeoutException {
    try {
      return blocking(timeout).get(GetRequest.newBuilder().setKey(key).setWait(true)
          .setTimeoutMillis(millis(timeout)).build()).getValue().toByteArray();
    } catch (StatusRuntimeException e) {
      throw timeoutOr(e, List.of(key), timeout);
    }
  }

  @Override
  public void await(List<String> keys, Duration timeout) throws StoreTimeoutException {
    try {
      blocking(timeout).wait(WaitRequest.newBuilder().addAllKeys(keys).setTimeoutMillis(millis(timeout)).build());
    } catch (StatusRuntimeException e) {
      throw timeoutOr(e, keys, timeout);
    }
  }

  @Override
  public long add(String key, long delta) {
    return stub.add(AddRequest.newBuilder().setKey(key).setDelta(delta).build()).getValue();
  }

  @Override
  public boolean deleteKey(String key) {
    return stub.deleteKey(DeleteKeyRequest.newBuilder().setKey(key).build()).getExisted();
  }

  /** TCPStore compare_set: the value after the call. */
  public byte[] compareSet(String key, byte[] expected, byte[] desired) {
    return stub.compareSet(CompareSetRequest.newBuilder().setKey(key).setExpected(ByteString.copyFrom(expected))
        .setDesired(ByteString.copyFrom(desired)).build()).getValue().toByteArray();
  }

  public boolean check(List<String> keys) {
    return stub.check(CheckRequest.newBuilder().addAllKeys(keys).build()).getAllExist();
  }

  public long numKeys() {
    return stub.numKeys(NumKeysRequest.getDefaultInstance()).getNumKeys();
  }

  public List<byte[]> multiGet(List<String> keys, Duration timeout) throws StoreTimeoutException {
    try {
      return blocking(timeout).multiGet(MultiGetRequest.newBuilder().addAllKeys(keys)
          .setTimeoutMillis(millis(timeout)).build()).getValuesList().stream().map(ByteString::toByteArray).toList();
    } catch (StatusRuntimeException e) {
      throw timeoutOr(e, keys, timeout);
    }
  }

  public void multiSet(List<String> keys, List<byte[]> values) {
    MultiSetRequest.Builder b = MultiSetRequest.newBuilder().addAllKeys(keys);
    values.forEach(v -> b.addValues(ByteString.copyFrom(v)));
    stub.multiSet(b.build());
  }

  /** Appends and returns the new length. */
  public long append(String key, byte[] suffix) {
    return stub.append(AppendRequest.newBuilder().setKey(key).setValue(ByteString.copyFrom(suffix)).build())
        .getLength();
  }

  /** The channel belongs to the {@link RendezvousClient}; closing the store view releases nothing. */
  @Override
  public void close() {}

  private StoreGrpc.StoreBlockingStub blocking(Duration timeout) {
    return stub.withDeadlineAfter(timeout.plus(DEADLINE_SLACK).toNanos(), TimeUnit.NANOSECONDS);
  }

  private static long millis(Duration timeout) {
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("store timeout is " + timeout + "; it must be positive");
    }
    return Math.max(1, timeout.toMillis());
  }

  private static StoreTimeoutException timeoutOr(StatusRuntimeException e, List<String> keys, Duration timeout) {
    if (e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED) {
      return new StoreTimeoutException(keys, timeout);
    }
    throw e;
  }
}
