package io.elasticmoe.placement;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/** Reads a vector file in the format of shared/testdata/eplb (one case per reference run). */
record EplbVectors(
    String name,
    double[][] weight,
    int numReplicas,
    int numGroups,
    int numNodes,
    int numGpus,
    int[][] phy2log,
    int[][][] log2phy,
    int[][] logcnt) {

  static List<EplbVectors> load(String resource) {
    try (InputStream in = EplbVectors.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("test resource " + resource + " is missing");
      }
      ObjectMapper mapper = new ObjectMapper();
      JsonNode cases = mapper.readTree(in).get("cases");
      List<EplbVectors> vectors = new ArrayList<>();
      for (int i = 0; i < cases.size(); i++) {
        JsonNode c = cases.get(i);
        vectors.add(
            new EplbVectors(
                resource.substring(resource.lastIndexOf('/') + 1)
                    + "#"
                    + i
                    + " "
                    + c.get("layers")
                    + "x"
                    + c.get("num_logical")
                    + "->"
                    + c.get("num_replicas")
                    + " g"
                    + c.get("num_groups")
                    + " n"
                    + c.get("num_nodes")
                    + " gpu"
                    + c.get("num_gpus")
                    + " "
                    + c.path("distribution").asText(),
                mapper.treeToValue(c.get("weight"), double[][].class),
                c.get("num_replicas").asInt(),
                c.get("num_groups").asInt(),
                c.get("num_nodes").asInt(),
                c.get("num_gpus").asInt(),
                mapper.treeToValue(c.get("phy2log"), int[][].class),
                mapper.treeToValue(c.get("log2phy"), int[][][].class),
                mapper.treeToValue(c.get("logcnt"), int[][].class)));
      }
      return vectors;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read test resource " + resource, e);
    }
  }

  @Override
  public String toString() {
    return name;
  }
}
