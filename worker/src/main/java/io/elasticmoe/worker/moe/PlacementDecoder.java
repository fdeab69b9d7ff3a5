package io.elasticmoe.worker.moe;

import io.elasticmoe.placement.ExpertPlacement;
import java.util.List;

/** Unflattens the rendezvous Placement message into the planner's {@link ExpertPlacement} record. */
public final class PlacementDecoder {

  private PlacementDecoder() {}

  public static ExpertPlacement decode(io.elasticmoe.api.rendezvous.v1alpha1.ExpertPlacement message) {
    int layers = message.getNumLayers();
    int logical = message.getNumLogicalExperts();
    int physical = message.getNumPhysicalExperts();
    int maxReplicas = message.getMaxReplicas();
    check("phy2log", message.getPhy2LogCount(), layers * physical);
    check("log2phy", message.getLog2PhyCount(), layers * logical * maxReplicas);
    check("logcnt", message.getLogcntCount(), layers * logical);
    int[][] phy2log = new int[layers][physical];
    int[][][] log2phy = new int[layers][logical][maxReplicas];
    int[][] logcnt = new int[layers][logical];
    for (int l = 0; l < layers; l++) {
      for (int p = 0; p < physical; p++) {
        phy2log[l][p] = message.getPhy2Log(l * physical + p);
      }
      for (int e = 0; e < logical; e++) {
        logcnt[l][e] = message.getLogcnt(l * logical + e);
        for (int r = 0; r < maxReplicas; r++) {
          log2phy[l][e][r] = message.getLog2Phy((l * logical + e) * maxReplicas + r);
        }
      }
    }
    return new ExpertPlacement(phy2log, log2phy, logcnt, List.copyOf(message.getExpertsAtRiskList()));
  }

  private static void check(String field, int actual, int expected) {
    if (actual != expected) {
      throw new IllegalArgumentException(
          "placement field " + field + " has " + actual + " values; its shape needs " + expected);
    }
  }
}
