package io.elasticmoe.worker.rendezvous;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RendezvousIdentityTest {

  private static Map<String, String> env() {
    Map<String, String> env = new HashMap<>();
    env.put("EMD_RENDEZVOUS", "10.0.0.7:9090");
    env.put("EMD_NAMESPACE", "team-a");
    env.put("EMD_NAME", "llm");
    env.put("EMD_RANK", "3");
    env.put("EMD_POD_UID", "uid-3");
    env.put("EMD_TOKEN", "secret");
    env.put("HOSTNAME", "llm-rank-3");
    return env;
  }

  @Test
  void readsThePodEnvironment() {
    RendezvousIdentity id = RendezvousIdentity.fromEnv(env());
    assertThat(id).isEqualTo(
        new RendezvousIdentity("10.0.0.7:9090", "team-a", "llm", 3, "uid-3", "llm-rank-3", "", "secret"));
    assertThat(id.deployment()).isEqualTo("team-a/llm");
  }

  @Test
  void readsTheTokenFromAFile(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("token");
    Files.writeString(file, "from-file\n");
    Map<String, String> env = env();
    env.remove("EMD_TOKEN");
    env.put("EMD_TOKEN_FILE", file.toString());
    assertThat(RendezvousIdentity.fromEnv(env).token()).isEqualTo("from-file");
  }

  @Test
  void namesTheMissingOrBadVariable() {
    Map<String, String> noRank = env();
    noRank.remove("EMD_RANK");
    assertThat(assertThrows(IllegalArgumentException.class, () -> RendezvousIdentity.fromEnv(noRank)))
        .hasMessage("EMD_RANK is not set; the operator injects it into rank pods");
    Map<String, String> badRank = env();
    badRank.put("EMD_RANK", "three");
    assertThat(assertThrows(IllegalArgumentException.class, () -> RendezvousIdentity.fromEnv(badRank)))
        .hasMessage("EMD_RANK is 'three'; it must be a non-negative integer");
    Map<String, String> badTarget = env();
    badTarget.put("EMD_RENDEZVOUS", "nohost");
    assertThat(assertThrows(IllegalArgumentException.class, () -> RendezvousIdentity.fromEnv(badTarget)))
        .hasMessage("EMD_RENDEZVOUS is 'nohost'; it must be host:port");
    Map<String, String> noToken = env();
    noToken.remove("EMD_TOKEN");
    assertThat(assertThrows(IllegalArgumentException.class, () -> RendezvousIdentity.fromEnv(noToken)))
        .hasMessage("the rendezvous token is empty; set EMD_TOKEN or EMD_TOKEN_FILE");
  }
}
