package io.elasticmoe.operator.rendezvous.persist;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.elasticmoe.api.v1alpha1.ElasticMoEDeploymentStatus;
import io.elasticmoe.operator.rendezvous.core.CommittedMember;
import io.elasticmoe.operator.rendezvous.core.CommittedState;
import java.util.List;
import org.junit.jupiter.api.Test;

class StatusCommittedStateStoreTest {
  private static final CommittedState STATE = CommittedState.of(7,
      List.of(new CommittedMember(0, "uid-0", "llm-rank-0", "node-a"), new CommittedMember(2, "uid-2", "llm-rank-2", "node-b")),
      9);

  @Test
  void thePatchNamesOnlyTheRendezvousFieldsOfStatus() throws Exception {
    String patch = StatusCommittedStateStore.statusPatch(STATE);
    assertThat(patch).isEqualTo(
        "{\"status\":{\"epoch\":7,\"worldSize\":2,\"ranks\":["
            + "{\"rank\":0,\"uid\":\"uid-0\",\"pod\":\"llm-rank-0\",\"node\":\"node-a\",\"state\":\"Active\"},"
            + "{\"rank\":2,\"uid\":\"uid-2\",\"pod\":\"llm-rank-2\",\"node\":\"node-b\",\"state\":\"Active\"}],"
            + "\"placementVersion\":9}}");
  }

  @Test
  void aStatusWrittenByThePatchResumesTheSameCommittedState() throws Exception {
    ObjectMapper json = new ObjectMapper();
    ElasticMoEDeploymentStatus status = json.treeToValue(
        json.readTree(StatusCommittedStateStore.statusPatch(STATE)).get("status"), ElasticMoEDeploymentStatus.class);
    assertThat(StatusCommittedStateStore.fromStatus(status)).contains(STATE);
  }

  @Test
  void aStatusBeforeTheFirstCommitResumesNothing() {
    assertThat(StatusCommittedStateStore.fromStatus(null)).isEmpty();
    assertThat(StatusCommittedStateStore.fromStatus(new ElasticMoEDeploymentStatus()))
        .isEmpty();
  }
}
