package io.elasticmoe.operator.rendezvous.grpc;

import com.google.protobuf.ByteString;
import io.elasticmoe.api.rendezvous.v1alpha1.AddRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.AddResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.AppendRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.AppendResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.CheckRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.CheckResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.CompareSetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.CompareSetResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.DeleteKeyRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.DeleteKeyResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.GetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.GetResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.MultiGetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.MultiGetResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.MultiSetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.MultiSetResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.NumKeysResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.SetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.SetResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.WaitRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.WaitResponse;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.grpc.Deadline;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * Every Store operation on its protobuf messages, in one deployment's namespace: the single
 * translation to {@link KeyValueCore} that the unary methods and {@link StoreSession} share, so both
 * have the same semantics and limits. Blocking operations return futures that the core's waiters
 * complete; the rest answer on the calling thread.
 */
final class StoreOperations {
  private final KeyValueCore core;

  StoreOperations(KeyValueCore core) {
    this.core = core;
  }

  SetResponse set(String namespace, SetRequest request) {
    core.set(namespace, request.getKey(), request.getValue().toByteArray());
    return SetResponse.getDefaultInstance();
  }

  /** A get with {@code wait=false}: NOT_FOUND when the key is missing. */
  GetResponse getExisting(String namespace, GetRequest request) {
    return GetResponse.newBuilder()
        .setValue(ByteString.copyFrom(core.getExisting(namespace, request.getKey())))
        .build();
  }

  /** A get with {@code wait=true}; {@code deadline} is the call's, or null. */
  CompletableFuture<GetResponse> getWaiting(String namespace, GetRequest request, Deadline deadline) {
    return answer(core.getAsync(namespace, request.getKey(),
            RendezvousCalls.blockingTimeout("timeout_millis", request.getTimeoutMillis(), deadline)),
        value -> GetResponse.newBuilder().setValue(ByteString.copyFrom(value)).build());
  }

  CompletableFuture<WaitResponse> await(String namespace, WaitRequest request, Deadline deadline) {
    return answer(core.waitAsync(namespace, request.getKeysList(),
            RendezvousCalls.blockingTimeout("timeout_millis", request.getTimeoutMillis(), deadline)),
        done -> WaitResponse.getDefaultInstance());
  }

  AddResponse add(String namespace, AddRequest request) {
    return AddResponse.newBuilder().setValue(core.add(namespace, request.getKey(), request.getDelta())).build();
  }

  CompareSetResponse compareSet(String namespace, CompareSetRequest request) {
    return CompareSetResponse.newBuilder()
        .setValue(ByteString.copyFrom(core.compareSet(namespace, request.getKey(),
            request.getExpected().toByteArray(), request.getDesired().toByteArray())))
        .build();
  }

  CheckResponse check(String namespace, CheckRequest request) {
    return CheckResponse.newBuilder().setAllExist(core.check(namespace, request.getKeysList())).build();
  }

  DeleteKeyResponse deleteKey(String namespace, DeleteKeyRequest request) {
    return DeleteKeyResponse.newBuilder().setExisted(core.deleteKey(namespace, request.getKey())).build();
  }

  NumKeysResponse numKeys(String namespace) {
    return NumKeysResponse.newBuilder().setNumKeys(core.numKeys(namespace)).build();
  }

  CompletableFuture<MultiGetResponse> multiGet(String namespace, MultiGetRequest request, Deadline deadline) {
    return answer(core.multiGetAsync(namespace, request.getKeysList(),
            RendezvousCalls.blockingTimeout("timeout_millis", request.getTimeoutMillis(), deadline)),
        values -> {
          MultiGetResponse.Builder b = MultiGetResponse.newBuilder();
          values.forEach(v -> b.addValues(ByteString.copyFrom(v)));
          return b.build();
        });
  }

  MultiSetResponse multiSet(String namespace, MultiSetRequest request) {
    List<byte[]> values = request.getValuesList().stream().map(ByteString::toByteArray).toList();
    core.multiSet(namespace, request.getKeysList(), values);
    return MultiSetResponse.getDefaultInstance();
  }

  /**
   * {@code waiter.thenApply(response)}, except that cancelling the result cancels {@code waiter} too (a
   * dependent future does not pass cancellation back by itself): for a core waiter, that withdraws it.
   */
  static <T, R> CompletableFuture<R> answer(CompletableFuture<T> waiter, Function<T, R> response) {
    CompletableFuture<R> answer = waiter.thenApply(response);
    answer.whenComplete((value, thrown) -> {
      if (thrown instanceof CancellationException) {
        waiter.cancel(false);
      }
    });
    return answer;
  }

  AppendResponse append(String namespace, AppendRequest request) {
    return AppendResponse.newBuilder()
        .setLength(core.append(namespace, request.getKey(), request.getValue().toByteArray()))
        .build();
  }
}
