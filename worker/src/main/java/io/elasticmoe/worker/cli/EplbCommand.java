package io.elasticmoe.worker.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.elasticmoe.placement.DeepSeekEplb;
import io.elasticmoe.placement.ExpertPlacement;
import io.elasticmoe.placement.ExpertPlacementPlanner;
import io.elasticmoe.placement.PlacementRequest;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code elasticmoe eplb}: computes expert placements for every case of a file in the format of
 * shared/testdata/eplb ({@code {"cases": [{num_replicas, num_groups, num_nodes, num_gpus, weight,
 * ...}]}}) and writes the file back with {@code phy2log}, {@code log2phy} and {@code logcnt} filled
 * in; other fields pass through. An adapter: every placement decision is made in the placement
 * module.
 */
@Command(
    name = "eplb",
    mixinStandardHelpOptions = true,
    description = {
      "Expert placement (DeepSeek EPLB, exact) for each case of a JSON file.",
      "Input: {\"cases\": [{\"num_replicas\", \"num_groups\", \"num_nodes\", \"num_gpus\","
          + " \"weight\": [[load per logical expert] per layer], ...}]}.",
      "Output: the same file with phy2log, log2phy and logcnt per case (and experts_at_risk when "
          + "--failure-domains is given); other fields are kept.",
    },
    exitCodeListHeading = "Exit codes:%n",
    exitCodeList = {
      "0:every case planned (and, with --verify, matched)",
      "1:a case is invalid, a file cannot be read or written, or --verify found a difference",
      "2:bad command-line usage",
    })
public final class EplbCommand implements Callable<Integer> {

  private static final String POLICIES = "auto, hierarchical, global, elasticity-aware";

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--in", required = true, paramLabel = "FILE", description = "Input JSON file.")
  Path in;

  @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output JSON file.")
  Path out;

  @Option(
      names = "--policy",
      defaultValue = "auto",
      paramLabel = "POLICY",
      description = {
        "One of: " + POLICIES + " (default: ${DEFAULT-VALUE}).",
        "auto: DeepSeek's choice, hierarchical when num_groups %% num_nodes == 0, else global.",
        "elasticity-aware: the operator's planner: the global policy over --active-ranks when some "
            + "are dead, then failure-domain spreading with --failure-domains.",
      })
  String policy;

  @Option(
      names = "--active-ranks",
      split = ",",
      paramLabel = "RANK",
      description = "Live ranks, e.g. 0,1,3 (default: all). Implies --policy elasticity-aware.")
  List<Integer> activeRanks;

  @Option(
      names = "--failure-domains",
      split = ",",
      paramLabel = "DOMAIN",
      description = "Failure domain per rank, e.g. a,a,b,b. Implies --policy elasticity-aware.")
  List<String> failureDomains;

  @Option(
      names = "--verify",
      description =
          "Also compare with the phy2log, log2phy and logcnt already in the input; exit 1 "
              + "on any difference.")
  boolean verify;

  @Override
  public Integer call() {
    String effectivePolicy = effectivePolicy();
    PrintWriter err = spec.commandLine().getErr();
    // A null load must be an error, not a silent zero.
    ObjectMapper mapper =
        new ObjectMapper().enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
    JsonNode root;
    try {
      root = mapper.readTree(in.toFile());
    } catch (IOException e) {
      err.println("eplb: cannot read " + in + ": " + e.getMessage());
      return 1;
    }
    JsonNode cases = root == null ? null : root.get("cases");
    if (cases == null || !cases.isArray()) {
      err.println("eplb: " + in + " has no \"cases\" array; expected {\"cases\": [{...}, ...]}");
      return 1;
    }
    int mismatches = 0;
    for (int i = 0; i < cases.size(); i++) {
      if (!(cases.get(i) instanceof ObjectNode testCase)) {
        err.println("eplb: case " + i + " is not a JSON object");
        return 1;
      }
      try {
        long start = System.nanoTime();
        String used = plan(testCase, effectivePolicy, mapper, verify);
        double millis = (System.nanoTime() - start) / 1e6;
        err.printf(
            "case %d/%d: %s layers x %s experts -> %s replicas, %s groups, %s nodes, %s GPUs: %s,"
                + " %.1f ms%n",
            i + 1,
            cases.size(),
            testCase.get("weight").size(),
            testCase.get("weight").get(0).size(),
            testCase.get("num_replicas"),
            testCase.get("num_groups"),
            testCase.get("num_nodes"),
            testCase.get("num_gpus"),
            used,
            millis);
      } catch (VerificationException e) {
        err.println("eplb: case " + i + ": " + e.getMessage());
        mismatches++;
      } catch (IllegalArgumentException e) {
        err.println("eplb: case " + i + ": " + e.getMessage());
        return 1;
      }
    }
    try {
      Files.writeString(out, mapper.writeValueAsString(root) + "\n");
    } catch (IOException e) {
      err.println("eplb: cannot write " + out + ": " + e.getMessage());
      return 1;
    }
    PrintWriter stdout = spec.commandLine().getOut();
    stdout.println("wrote " + cases.size() + " cases to " + out);
    if (verify) {
      stdout.println(
          "verified "
              + (cases.size() - mismatches)
              + "/"
              + cases.size()
              + " cases against the input's phy2log, log2phy and logcnt");
    }
    return mismatches == 0 ? 0 : 1;
  }

  private String effectivePolicy() {
    boolean elastic = activeRanks != null || failureDomains != null;
    return switch (policy) {
      case "auto" -> elastic ? "elasticity-aware" : "auto";
      case "elasticity-aware" -> policy;
      case "hierarchical", "global" -> {
        if (elastic) {
          throw new CommandLine.ParameterException(
              spec.commandLine(),
              "--active-ranks and --failure-domains need --policy elasticity-aware, not " + policy);
        }
        yield policy;
      }
      default ->
          throw new CommandLine.ParameterException(
              spec.commandLine(), "--policy is '" + policy + "'; expected one of " + POLICIES);
    };
  }

  /** Plans one case in place; returns the policy that ran. */
  private String plan(
      ObjectNode testCase, String effectivePolicy, ObjectMapper mapper, boolean compare) {
    double[][] weight = readField(testCase, "weight", double[][].class, mapper);
    int numReplicas = readInt(testCase, "num_replicas");
    int numGroups = readInt(testCase, "num_groups");
    int numNodes = readInt(testCase, "num_nodes");
    int numGpus = readInt(testCase, "num_gpus");
    String used = effectivePolicy;
    ExpertPlacement placement =
        switch (effectivePolicy) {
          case "hierarchical" ->
              DeepSeekEplb.rebalanceHierarchical(weight, numReplicas, numGroups, numNodes, numGpus);
          case "global" -> DeepSeekEplb.rebalanceGlobal(weight, numReplicas, numGpus);
          case "elasticity-aware" -> {
            List<Integer> ranks =
                activeRanks != null ? activeRanks : IntStream.range(0, numGpus).boxed().toList();
            yield new ExpertPlacementPlanner()
                .plan(
                    new PlacementRequest(
                        weight,
                        numReplicas,
                        numGroups,
                        numNodes,
                        numGpus,
                        ranks,
                        failureDomains != null ? failureDomains : List.of()));
          }
          default -> {
            used = numNodes > 0 && numGroups % numNodes == 0 ? "hierarchical" : "global";
            yield DeepSeekEplb.rebalanceExperts(weight, numReplicas, numGroups, numNodes, numGpus);
          }
        };
    if (compare) {
      compare(testCase, placement, mapper);
    }
    testCase.set("phy2log", mapper.valueToTree(placement.phy2log()));
    testCase.set("log2phy", mapper.valueToTree(placement.log2phy()));
    testCase.set("logcnt", mapper.valueToTree(placement.logcnt()));
    if (failureDomains != null) {
      testCase.set("experts_at_risk", mapper.valueToTree(placement.expertsAtRisk()));
    }
    return used;
  }

  private static void compare(ObjectNode testCase, ExpertPlacement placement, ObjectMapper mapper) {
    List<String> differing = new ArrayList<>();
    if (!Arrays.deepEquals(
        readField(testCase, "phy2log", int[][].class, mapper), placement.phy2log())) {
      differing.add("phy2log");
    }
    if (!Arrays.deepEquals(
        readField(testCase, "log2phy", int[][][].class, mapper), placement.log2phy())) {
      differing.add("log2phy");
    }
    if (!Arrays.deepEquals(
        readField(testCase, "logcnt", int[][].class, mapper), placement.logcnt())) {
      differing.add("logcnt");
    }
    if (!differing.isEmpty()) {
      throw new VerificationException(
          String.join(", ", differing) + " differ from the values in the input");
    }
  }

  private static int readInt(ObjectNode testCase, String field) {
    JsonNode node = testCase.get(field);
    if (node == null || !node.canConvertToExactIntegral() || !node.canConvertToInt()) {
      throw new IllegalArgumentException(
          "%s is %s; an integer is required"
              .formatted(field, (node == null ? "missing" : node.toString())));
    }
    return node.intValue();
  }

  private static <T> T readField(
      ObjectNode testCase, String field, Class<T> type, ObjectMapper mapper) {
    JsonNode node = testCase.get(field);
    if (node == null || node.isNull()) {
      throw new IllegalArgumentException(field + " is missing");
    }
    try {
      return mapper.treeToValue(node, type);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(
          field + " is not a " + type.getSimpleName() + ": " + e.getOriginalMessage());
    }
  }

  /** A computed placement differs from the one stored in the input. */
  private static final class VerificationException extends RuntimeException {
    VerificationException(String message) {
      super(message);
    }
  }
}
