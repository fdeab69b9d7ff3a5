package io.elasticmoe.worker.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.elasticmoe.placement.DeepSeekEplb;
import io.elasticmoe.placement.ExpertPlacement;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class EplbCommandTest {

  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final double[][] WEIGHT = {
    {90, 10, 40, 20, 5, 5, 60, 30}, {3, 3, 3, 3, 1, 1, 1, 1}
  };

  @TempDir Path dir;
  private final StringWriter err = new StringWriter();
  private final StringWriter out = new StringWriter();

  private int run(String... args) {
    CommandLine cli = new CommandLine(new ElasticMoeCommand());
    cli.setErr(new PrintWriter(err, true));
    cli.setOut(new PrintWriter(out, true));
    return cli.execute(args);
  }

  private Path input(String caseJson) throws IOException {
    Path in = dir.resolve("in.json");
    Files.writeString(in, "{\"source\": \"test\", \"cases\": [" + caseJson + "]}");
    return in;
  }

  private static String validCase() throws IOException {
    return "{\"num_replicas\": 12, \"num_groups\": 2, \"num_nodes\": 2, \"num_gpus\": 4,"
        + " \"distribution\": \"skewed\", \"weight\": "
        + MAPPER.writeValueAsString(WEIGHT)
        + "}";
  }

  private JsonNode outputCase() throws IOException {
    return MAPPER.readTree(dir.resolve("out.json").toFile()).get("cases").get(0);
  }

  @Test
  void writesTheReferencePlacementAndKeepsOtherFields() throws IOException {
    Path in = input(validCase());

    int exit = run("eplb", "--in", in.toString(), "--out", dir.resolve("out.json").toString());

    assertThat(exit).as(err.toString()).isZero();
    ExpertPlacement expected = DeepSeekEplb.rebalanceExperts(WEIGHT, 12, 2, 2, 4);
    JsonNode result = outputCase();
    assertThat(MAPPER.treeToValue(result.get("phy2log"), int[][].class))
        .isDeepEqualTo(expected.phy2log());
    assertThat(MAPPER.treeToValue(result.get("log2phy"), int[][][].class))
        .isDeepEqualTo(expected.log2phy());
    assertThat(MAPPER.treeToValue(result.get("logcnt"), int[][].class))
        .isDeepEqualTo(expected.logcnt());
    assertThat(result.get("distribution").asText()).isEqualTo("skewed");
    assertThat(MAPPER.readTree(dir.resolve("out.json").toFile()).get("source").asText())
        .isEqualTo("test");
    assertThat(err.toString())
        .contains(
            "case 1/1: 2 layers x 8 experts -> 12 replicas, 2 groups, 2 nodes, 4 GPUs:"
                + " hierarchical");
  }

  @Test
  void verifiesItsOwnOutputAndFailsOnATamperedOne() throws IOException {
    Path in = input(validCase());
    Path first = dir.resolve("out.json");
    assertThat(run("eplb", "--in", in.toString(), "--out", first.toString())).isZero();

    assertThat(
            run(
                "eplb",
                "--in",
                first.toString(),
                "--out",
                dir.resolve("again.json").toString(),
                "--verify"))
        .isZero();
    assertThat(out.toString()).contains("verified 1/1 cases");

    String tampered =
        Files.readString(first).replaceFirst("\"logcnt\":\\[\\[\\d", "\"logcnt\":[[9");
    Files.writeString(first, tampered);
    int exit =
        run(
            "eplb",
            "--in",
            first.toString(),
            "--out",
            dir.resolve("again.json").toString(),
            "--verify");

    assertThat(exit).isEqualTo(1);
    assertThat(err.toString()).contains("eplb: case 0: logcnt differ from the values in the input");
  }

  @Test
  void emptiesTheSlotsOfDeadRanksWithActiveRanks() throws IOException {
    Path in = input(validCase());

    int exit =
        run(
            "eplb",
            "--in",
            in.toString(),
            "--out",
            dir.resolve("out.json").toString(),
            "--active-ranks",
            "0,2,3");

    assertThat(exit).as(err.toString()).isZero();
    int[][] phy2log = MAPPER.treeToValue(outputCase().get("phy2log"), int[][].class);
    for (int[] layer : phy2log) {
      assertThat(layer[3]).isEqualTo(-1);
      assertThat(layer[4]).isEqualTo(-1);
      assertThat(layer[5]).isEqualTo(-1);
    }
    assertThat(err.toString()).contains("elasticity-aware");
  }

  @Test
  void reportsExpertsAtRiskWithFailureDomains() throws IOException {
    Path in = input(validCase());

    int exit =
        run(
            "eplb",
            "--in",
            in.toString(),
            "--out",
            dir.resolve("out.json").toString(),
            "--failure-domains",
            "a,a,b,b");

    assertThat(exit).as(err.toString()).isZero();
    assertThat(outputCase().get("experts_at_risk").isArray()).isTrue();
    assertThat(outputCase().get("experts_at_risk")).isEmpty();
  }

  @Test
  void failsNamingTheCaseAndFieldOnMismatchedLayers() throws IOException {
    Path in =
        input(
            "{\"num_replicas\": 8, \"num_groups\": 1, \"num_nodes\": 1, \"num_gpus\": 2,"
                + " \"weight\": [[1, 2, 3, 4], [1, 2, 3]]}");

    int exit = run("eplb", "--in", in.toString(), "--out", dir.resolve("out.json").toString());

    assertThat(exit).isEqualTo(1);
    assertThat(err.toString())
        .contains("eplb: case 0: weight[1] has 3 experts; every layer must have 4 like weight[0]");
    assertThat(dir.resolve("out.json")).doesNotExist();
  }

  @Test
  void failsOnReplicasThatDoNotDivideOverGpus() throws IOException {
    Path in =
        input(
            "{\"num_replicas\": 9, \"num_groups\": 1, \"num_nodes\": 1, \"num_gpus\": 2,"
                + " \"weight\": [[1, 2, 3, 4]]}");

    int exit = run("eplb", "--in", in.toString(), "--out", dir.resolve("out.json").toString());

    assertThat(exit).isEqualTo(1);
    assertThat(err.toString())
        .contains("eplb: case 0: num_replicas is 9; it must be a multiple of num_gpus (2)");
  }

  @Test
  void failsOnANegativeLoad() throws IOException {
    Path in =
        input(
            "{\"num_replicas\": 4, \"num_groups\": 1, \"num_nodes\": 1, \"num_gpus\": 2,"
                + " \"weight\": [[1, -2, 3, 4]]}");

    int exit = run("eplb", "--in", in.toString(), "--out", dir.resolve("out.json").toString());

    assertThat(exit).isEqualTo(1);
    assertThat(err.toString()).contains("eplb: case 0: weight[0][1] is -2.0;");
  }

  @Test
  void failsOnANullLoadInsteadOfReadingItAsZero() throws IOException {
    Path in =
        input(
            "{\"num_replicas\": 4, \"num_groups\": 1, \"num_nodes\": 1, \"num_gpus\": 2,"
                + " \"weight\": [[1, null, 3, 4]]}");

    int exit = run("eplb", "--in", in.toString(), "--out", dir.resolve("out.json").toString());

    assertThat(exit).isEqualTo(1);
    assertThat(err.toString()).contains("eplb: case 0: weight is not a double[][]:");
  }

  @Test
  void failsOnAMissingField() throws IOException {
    Path in =
        input(
            "{\"num_replicas\": 4, \"num_groups\": 1, \"num_nodes\": 1,"
                + " \"weight\": [[1, 2, 3, 4]]}");

    int exit = run("eplb", "--in", in.toString(), "--out", dir.resolve("out.json").toString());

    assertThat(exit).isEqualTo(1);
    assertThat(err.toString())
        .contains("eplb: case 0: num_gpus is missing; an integer is required");
  }

  @Test
  void failsOnAnUnreadableInput() {
    int exit =
        run(
            "eplb",
            "--in",
            dir.resolve("absent.json").toString(),
            "--out",
            dir.resolve("out.json").toString());

    assertThat(exit).isEqualTo(1);
    assertThat(err.toString()).contains("eplb: cannot read " + dir.resolve("absent.json"));
  }

  @Test
  void rejectsAnUnknownPolicyAsUsageError() throws IOException {
    Path in = input(validCase());

    int exit =
        run(
            "eplb",
            "--in",
            in.toString(),
            "--out",
            dir.resolve("out.json").toString(),
            "--policy",
            "random");

    assertThat(exit).isEqualTo(2);
    assertThat(err.toString())
        .contains(
            "--policy is 'random'; expected one of auto, hierarchical, global, elasticity-aware");
  }

  @Test
  void rejectsActiveRanksWithAnExactPolicy() throws IOException {
    Path in = input(validCase());

    int exit =
        run(
            "eplb",
            "--in",
            in.toString(),
            "--out",
            dir.resolve("out.json").toString(),
            "--policy",
            "global",
            "--active-ranks",
            "0,1");

    assertThat(exit).isEqualTo(2);
    assertThat(err.toString())
        .contains(
            "--active-ranks and --failure-domains need --policy elasticity-aware, not global");
  }
}
