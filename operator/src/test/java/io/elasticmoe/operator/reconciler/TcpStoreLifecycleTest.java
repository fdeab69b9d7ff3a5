package io.elasticmoe.operator.reconciler;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.api.v1alpha1.ElasticMoEDeployment;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentSpec;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentStatus;
import io.elasticmoe.api.v1alpha1.RendezvousSpec;
import io.elasticmoe.api.v1alpha1.TcpStoreSpec;
import io.elasticmoe.api.v1alpha1.TcpStoreStatus;
import io.elasticmoe.operator.model.TcpStoreResources;
import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimits;
import io.elasticmoe.operator.tcpstore.ListenerPortRange;
import io.elasticmoe.operator.tcpstore.TcpStoreEndpoints;
import io.elasticmoe.operator.tcpstore.TcpStoreLimits;
import io.elasticmoe.operator.tcpstore.TcpStoreResourceManager;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The sequencing of the TCPStore step: listener, then objects, then status; withdrawal only of what
 * was served. The API-server side is recorded here; TcpStoreE2E runs it against a real cluster.
 */
class TcpStoreLifecycleTest {
  private static final DeploymentKey KEY = new DeploymentKey("team-a", "llm");

  private final ScheduledThreadPoolExecutor deadlines = new ScheduledThreadPoolExecutor(1);
  private final RecordingResources resources = new RecordingResources();
  private TcpStoreEndpoints endpoints;
  private TcpStoreLifecycle lifecycle;

  /** Records what would be written; the ClusterIP is what the API server would have allocated. */
  static final class RecordingResources extends TcpStoreResourceManager {
    final List<String> calls = new ArrayList<>();
    TcpStoreResources applied;

    RecordingResources() {
      super(null);
    }

    @Override
    public String apply(TcpStoreResources resources, String deploymentNamespace) {
      calls.add("apply " + resources.name() + " for " + deploymentNamespace);
      applied = resources;
      return "10.0.0.42";
    }

    @Override
    public void delete(String operatorNamespace, String name) {
      calls.add("delete " + operatorNamespace + "/" + name);
    }
  }

  private void start(int firstPort, int lastPort) {
    endpoints = new TcpStoreEndpoints(
        new KeyValueCore(KeyValueLimits.DEFAULTS, deadlines), TcpStoreLimits.DEFAULTS, "127.0.0.1",
        new ListenerPortRange(firstPort, lastPort));
    lifecycle = new TcpStoreLifecycle(
        endpoints, resources, "elasticmoe-system", "app.kubernetes.io/name=elasticmoe-operator");
  }

  @AfterEach
  void stop() {
    endpoints.close();
    deadlines.shutdownNow();
  }

  private static int freePort() throws Exception {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  private static ElasticMoEDeployment emd(Boolean enabled, TcpStoreStatus previous) {
    ElasticMoEDeployment emd = new ElasticMoEDeployment();
    emd.setMetadata(new ObjectMetaBuilder().withNamespace("team-a").withName("llm").withUid("u-1").build());
    ElasticMoEDeploymentSpec spec = new ElasticMoEDeploymentSpec();
    spec.rendezvous = new RendezvousSpec();
    spec.rendezvous.tcpStore = new TcpStoreSpec();
    spec.rendezvous.tcpStore.enabled = enabled;
    spec.rendezvous.tcpStore.port = 29600;
    emd.setSpec(spec);
    if (previous != null) {
      emd.setStatus(new ElasticMoEDeploymentStatus());
      emd.getStatus().tcpStore = previous;
    }
    return emd;
  }

  @Test
  void enabledDeploymentIsServedOnItsPreviousPortAndReported() throws Exception {
    int port = freePort();
    start(port - 3, port + 3);

    Optional<TcpStoreStatus> status = lifecycle.reconcile(emd(true, new TcpStoreStatus(null, null, port)));

    assertThat(endpoints.endpoint(KEY).orElseThrow().port()).isEqualTo(port);
    assertThat(resources.calls).containsExactly("apply tcpstore-team-a-llm for team-a");
    assertThat(resources.applied.listenerPort()).isEqualTo(port);
    assertThat(status).contains(new TcpStoreStatus("elasticmoe-system/tcpstore-team-a-llm", "10.0.0.42:29600", port));
  }

  @Test
  void disablingStopsTheListenerAndDeletesTheObjects() throws Exception {
    int port = freePort();
    start(port, port);
    TcpStoreStatus served = lifecycle.reconcile(emd(true, null)).orElseThrow();
    resources.calls.clear();

    assertThat(lifecycle.reconcile(emd(false, served))).isEmpty();

    assertThat(endpoints.endpoint(KEY)).isEmpty();
    assertThat(resources.calls).containsExactly("delete elasticmoe-system/tcpstore-team-a-llm");
  }

  @Test
  void statusNamingAnEndpointIsWithdrawnEvenWithoutAListener() throws Exception {
    int port = freePort();
    start(port, port);
    lifecycle.reconcile(emd(false, new TcpStoreStatus("elasticmoe-system/tcpstore-team-a-llm", "10.0.0.42:29600", 1)));
    assertThat(resources.calls).as("a restarted operator still cleans up").containsExactly(
        "delete elasticmoe-system/tcpstore-team-a-llm");
  }

  @Test
  void deploymentThatNeverServedCostsNoApiCalls() throws Exception {
    int port = freePort();
    start(port, port);
    assertThat(lifecycle.reconcile(emd(null, null))).isEmpty();
    assertThat(lifecycle.reconcile(emd(false, null))).isEmpty();
    assertThat(resources.calls).isEmpty();
  }

  @Test
  void deletedDeploymentLosesListenerAndObjects() throws Exception {
    int port = freePort();
    start(port, port);
    lifecycle.reconcile(emd(true, null));
    resources.calls.clear();

    lifecycle.remove(emd(true, null));

    assertThat(endpoints.endpoint(KEY)).isEmpty();
    assertThat(resources.calls).containsExactly("delete elasticmoe-system/tcpstore-team-a-llm");
  }
}
