package io.elasticmoe.operator.rendezvous;

import java.time.Duration;
import java.util.List;

/**
 * What the reconciler tells the rendezvous about one deployment (from its spec and Secret).
 *
 * @param plannedRanks ranks that should be members now
 * @param minAvailableRanks fewest ranks an epoch commits with
 * @param maxRanks buffer capacity in ranks (spec.maxRanks)
 * @param heartbeatInterval how often workers send heartbeats
 * @param missedHeartbeatsThreshold missed heartbeats before a rank is suspected
 * @param joinTimeout last call for a partial membership
 * @param credentialSha256 lower-case hex SHA-256 of the deployment's token (the Secret's value)
 * @param placement what placements are planned over
 */
public record RendezvousSpec(
    List<Integer> plannedRanks,
    int minAvailableRanks,
    int maxRanks,
    Duration heartbeatInterval,
    int missedHeartbeatsThreshold,
    Duration joinTimeout,
    String credentialSha256,
    PlacementConfig placement) {

  public RendezvousSpec {
    plannedRanks = List.copyOf(plannedRanks);
    if (missedHeartbeatsThreshold < 1) {
      throw new IllegalArgumentException(
          "missedHeartbeatsThreshold is " + missedHeartbeatsThreshold + "; it must be at least 1");
    }
    if (credentialSha256 == null || !credentialSha256.matches("[0-9a-f]{64}")) {
      throw new IllegalArgumentException(
          "credentialSha256 must be 64 lower-case hex digits (SHA-256 of the token)");
    }
  }

  public Duration heartbeatTimeout() {
    return heartbeatInterval.multipliedBy(missedHeartbeatsThreshold);
  }
}
