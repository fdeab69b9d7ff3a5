package io.elasticmoe.operator.rendezvous.grpc;

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
import io.elasticmoe.api.rendezvous.v1alpha1.NumKeysRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.NumKeysResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.SetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.SetResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.WaitRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.WaitResponse;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.quarkus.grpc.RegisterInterceptor;
import jakarta.inject.Inject;
import java.util.function.Function;

/**
 * The Store gRPC service: translates requests to {@link KeyValueCore} calls ({@link StoreOperations})
 * in the caller's deployment namespace (from {@link DeploymentAuthInterceptor}), one call per operation
 * or many on one {@link StoreSession}; no store logic lives here.
 */
@GrpcService
@RegisterInterceptor(DeploymentAuthInterceptor.class)
public class StoreService extends StoreGrpc.StoreImplBase {
  private final StoreOperations operations;
  private final RendezvousMetrics metrics;
  private final RendezvousCalls calls;

  @Inject
  public StoreService(KeyValueCore core, RendezvousMetrics metrics) {
    this.operations = new StoreOperations(core);
    this.metrics = metrics;
    this.calls = new RendezvousCalls("Store", metrics);
  }

  /** The store namespace of a deployment, shared with the TCPStore endpoint. */
  static String namespace() {
    return DeploymentAuthInterceptor.caller().toString();
  }

  private static Deadline deadline() {
    return Context.current().getDeadline();
  }

  @Override
  public void set(SetRequest request, StreamObserver<SetResponse> out) {
    calls.unary("Set", out, () -> operations.set(namespace(), request));
  }

  @Override
  public void get(GetRequest request, StreamObserver<GetResponse> out) {
    if (!request.getWait()) {
      calls.unary("Get", out, () -> operations.getExisting(namespace(), request));
      return;
    }
    calls.async("Get", out, () -> operations.getWaiting(namespace(), request, deadline()), Function.identity());
  }

  @Override
  public void wait(WaitRequest request, StreamObserver<WaitResponse> out) {
    calls.async("Wait", out, () -> operations.await(namespace(), request, deadline()), Function.identity());
  }

  @Override
  public void add(AddRequest request, StreamObserver<AddResponse> out) {
    calls.unary("Add", out, () -> operations.add(namespace(), request));
  }

  @Override
  public void compareSet(CompareSetRequest request, StreamObserver<CompareSetResponse> out) {
    calls.unary("CompareSet", out, () -> operations.compareSet(namespace(), request));
  }

  @Override
  public void check(CheckRequest request, StreamObserver<CheckResponse> out) {
    calls.unary("Check", out, () -> operations.check(namespace(), request));
  }

  @Override
  public void deleteKey(DeleteKeyRequest request, StreamObserver<DeleteKeyResponse> out) {
    calls.unary("DeleteKey", out, () -> operations.deleteKey(namespace(), request));
  }

  @Override
  public void numKeys(NumKeysRequest request, StreamObserver<NumKeysResponse> out) {
    calls.unary("NumKeys", out, () -> operations.numKeys(namespace()));
  }

  @Override
  public void multiGet(MultiGetRequest request, StreamObserver<MultiGetResponse> out) {
    calls.async("MultiGet", out, () -> operations.multiGet(namespace(), request, deadline()), Function.identity());
  }

  @Override
  public void multiSet(MultiSetRequest request, StreamObserver<MultiSetResponse> out) {
    calls.unary("MultiSet", out, () -> operations.multiSet(namespace(), request));
  }

  @Override
  public void append(AppendRequest request, StreamObserver<AppendResponse> out) {
    calls.unary("Append", out, () -> operations.append(namespace(), request));
  }

  @Override
  public StreamObserver<StoreRequest> session(StreamObserver<StoreResponse> out) {
    return new StoreSession(operations, metrics, out, namespace(), deadline());
  }
}
