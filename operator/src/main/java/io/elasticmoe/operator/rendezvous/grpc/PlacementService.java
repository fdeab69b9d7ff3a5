package io.elasticmoe.operator.rendezvous.grpc;

import io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement;
import io.elasticmoe.api.rendezvous.v1alpha1.GetPlacementRequest;
import io.elasticmoe.api.rendezvous.v1alpha1.LoadReport;
import io.elasticmoe.api.rendezvous.v1alpha1.LoadReportResponse;
import io.elasticmoe.api.rendezvous.v1alpha1.PlacementGrpc;
import io.elasticmoe.api.rendezvous.v1alpha1.WatchPlacementRequest;
import io.elasticmoe.operator.rendezvous.PlacementChannel;
import io.elasticmoe.operator.rendezvous.RendezvousRegistry;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.quarkus.grpc.RegisterInterceptor;
import jakarta.inject.Inject;
import java.util.concurrent.atomic.AtomicReference;

/** The Placement gRPC service over the caller's {@link PlacementChannel}. */
@GrpcService
@RegisterInterceptor(DeploymentAuthInterceptor.class)
public class PlacementService extends PlacementGrpc.PlacementImplBase {
  private final RendezvousRegistry registry;
  private final RendezvousCalls calls;
  private final RendezvousMetrics metrics;

  @Inject
  public PlacementService(RendezvousRegistry registry, RendezvousMetrics metrics) {
    this.registry = registry;
    this.metrics = metrics;
    this.calls = new RendezvousCalls("Placement", metrics);
  }

  @Override
  public void reportLoad(LoadReport request, StreamObserver<LoadReportResponse> out) {
    calls.unary("ReportLoad", out, () -> {
      DeploymentKey caller = DeploymentAuthInterceptor.caller();
      long version = registry.reportLoad(caller, request);
      return LoadReportResponse.newBuilder().setPlacementVersion(version).build();
    });
  }

  @Override
  public void getPlacement(GetPlacementRequest request, StreamObserver<ExpertPlacement> out) {
    calls.unary("GetPlacement", out, () -> {
      DeploymentKey caller = DeploymentAuthInterceptor.caller();
      return registry.placement(caller).current()
          .orElseThrow(() -> new NoPlacementException(caller));
    });
  }

  @Override
  public void watchPlacement(WatchPlacementRequest request, StreamObserver<ExpertPlacement> out) {
    long start = System.nanoTime();
    try {
      ServerCallStreamObserver<ExpertPlacement> server = (ServerCallStreamObserver<ExpertPlacement>) out;
      AtomicReference<Runnable> unwatch = new AtomicReference<>(() -> {});
      server.setOnCancelHandler(() -> unwatch.get().run());
      unwatch.set(registry.placement(DeploymentAuthInterceptor.caller()).watch(request.getAfterVersion(), p -> {
        if (!server.isCancelled()) {
          server.onNext(p);
        }
      }));
      if (server.isCancelled()) {
        unwatch.get().run();
      }
    } catch (RuntimeException e) {
      var status = StatusMapper.toStatus(e);
      metrics.record("Placement", "WatchPlacement", status.getStatus().getCode(), System.nanoTime() - start);
      out.onError(status);
      return;
    }
    metrics.record("Placement", "WatchPlacement", Status.Code.OK, System.nanoTime() - start);
  }
}
