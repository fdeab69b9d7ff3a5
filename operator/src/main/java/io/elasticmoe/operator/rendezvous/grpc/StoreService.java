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
import io.elasticmoe.api.rendezvous.v1alpha1.NumKeysRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.NumKeysResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.SetRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.SetResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.StoreGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.WaitRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.WaitResponse;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.quarkus.grpc.RegisterInterceptor;
import jakarta.inject.Inject;
import java.util.List;

/**
 * The Store gRPC service: translates requests to {@link KeyValueCore} calls in the caller's
 * deployment namespace (from {@link DeploymentAuthInterceptor}); no store logic lives here.
 */
@GrpcService
@RegisterInterceptor(DeploymentAuthInterceptor.class)
public class StoreService extends StoreGrpc.StoreImplBase {
  private final KeyValueCore core;
  private final RendezvousCalls calls;

  @Inject
  public StoreService(KeyValueCore core, RendezvousMetrics metrics) {
    this.core = core;
    this.calls = new RendezvousCalls("Store", metrics);
  }

  /** The store namespace of a deployment, shared with the TCPStore endpoint. */
  static String namespace() {
    return DeploymentAuthInterceptor.caller().toString();
  }

  @Override
  public void set(SetRequest request, StreamObserver<SetResponse> out) {
    calls.unary("Set", out, () -> {
      core.set(namespace(), request.getKey(), request.getValue().toByteArray());
      return SetResponse.getDefaultInstance();
    });
  }

  @Override
  public void get(GetRequest request, StreamObserver<GetResponse> out) {
    if (!request.getWait()) {
      calls.unary("Get", out, () -> GetResponse.newBuilder()
          .setValue(ByteString.copyFrom(core.getExisting(namespace(), request.getKey())))
          .build());
      return;
    }
    calls.async("Get", out,
        () -> core.getAsync(namespace(), request.getKey(),
            RendezvousCalls.blockingTimeout("timeout_millis", request.getTimeoutMillis())),
        value -> GetResponse.newBuilder().setValue(ByteString.copyFrom(value)).build());
  }

  @Override
  public void wait(WaitRequest request, StreamObserver<WaitResponse> out) {
    calls.async("Wait", out,
        () -> core.waitAsync(namespace(), request.getKeysList(),
            RendezvousCalls.blockingTimeout("timeout_millis", request.getTimeoutMillis())),
        done -> WaitResponse.getDefaultInstance());
  }

  @Override
  public void add(AddRequest request, StreamObserver<AddResponse> out) {
    calls.unary("Add", out, () -> AddResponse.newBuilder()
        .setValue(core.add(namespace(), request.getKey(), request.getDelta()))
        .build());
  }

  @Override
  public void compareSet(CompareSetRequest request, StreamObserver<CompareSetResponse> out) {
    calls.unary("CompareSet", out, () -> CompareSetResponse.newBuilder()
        .setValue(ByteString.copyFrom(core.compareSet(namespace(), request.getKey(),
            request.getExpected().toByteArray(), request.getDesired().toByteArray())))
        .build());
  }

  @Override
  public void check(CheckRequest request, StreamObserver<CheckResponse> out) {
    calls.unary("Check", out, () -> CheckResponse.newBuilder()
        .setAllExist(core.check(namespace(), request.getKeysList()))
        .build());
  }

  @Override
  public void deleteKey(DeleteKeyRequest request, StreamObserver<DeleteKeyResponse> out) {
    calls.unary("DeleteKey", out, () -> DeleteKeyResponse.newBuilder()
        .setExisted(core.deleteKey(namespace(), request.getKey()))
        .build());
  }

  @Override
  public void numKeys(NumKeysRequest request, StreamObserver<NumKeysResponse> out) {
    calls.unary("NumKeys", out, () -> NumKeysResponse.newBuilder()
        .setNumKeys(core.numKeys(namespace()))
        .build());
  }

  @Override
  public void multiGet(MultiGetRequest request, StreamObserver<MultiGetResponse> out) {
    calls.async("MultiGet", out,
        () -> core.multiGetAsync(namespace(), request.getKeysList(),
            RendezvousCalls.blockingTimeout("timeout_millis", request.getTimeoutMillis())),
        values -> {
          MultiGetResponse.Builder b = MultiGetResponse.newBuilder();
          values.forEach(v -> b.addValues(ByteString.copyFrom(v)));
          return b.build();
        });
  }

  @Override
  public void multiSet(MultiSetRequest request, StreamObserver<MultiSetResponse> out) {
    calls.unary("MultiSet", out, () -> {
      List<byte[]> values = request.getValuesList().stream().map(ByteString::toByteArray).toList();
      core.multiSet(namespace(), request.getKeysList(), values);
      return MultiSetResponse.getDefaultInstance();
    });
  }

  @Override
  public void append(AppendRequest request, StreamObserver<AppendResponse> out) {
    calls.unary("Append", out, () -> AppendResponse.newBuilder()
        .setLength(core.append(namespace(), request.getKey(), request.getValue().toByteArray()))
        .build());
  }
}
