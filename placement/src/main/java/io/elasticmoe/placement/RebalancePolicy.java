package io.elasticmoe.placement;

import java.time.Duration;

/**
 * Decides whether the operator re-plans expert placement now. Pure: the caller passes the time
 * since the last plan and the current load imbalance (max over mean of per-rank load), and carries
 * the one bit of state, {@code armed}, from one decision to the next.
 *
 * <p>Rules, first match wins:
 *
 * <ol>
 *   <li>membership changed: re-plan, always (a dead rank's replicas must be replaced at once);
 *       arms;
 *   <li>less than {@code interval} since the last plan: keep;
 *   <li>armed and imbalance at least {@code imbalanceThreshold}: re-plan and disarm;
 *   <li>disarmed and imbalance at least {@code imbalanceThreshold + hysteresis}: re-plan (the world
 *       got clearly worse than when the trigger fired), stay disarmed;
 *   <li>imbalance at most {@code imbalanceThreshold - hysteresis}: keep and arm;
 *   <li>otherwise keep, armed as before.
 * </ol>
 *
 * <p>The two levels are the hysteresis: once a plan fired for imbalance, loads that hover around
 * the threshold (often the best any placement can do for them) do not fire it again every interval;
 * the trigger re-arms only after the world was seen balanced.
 */
public record RebalancePolicy(Duration interval, double imbalanceThreshold, double hysteresis) {

  public RebalancePolicy {
    if (interval == null || interval.isNegative()) {
      throw new IllegalArgumentException(
          "rebalance interval is " + interval + "; it must be zero or positive");
    }
    if (!(imbalanceThreshold >= 1) || Double.isInfinite(imbalanceThreshold)) {
      throw new IllegalArgumentException(
          "imbalanceThreshold is "
              + imbalanceThreshold
              + "; it must be finite and at least 1 (max/mean load is never below 1)");
    }
    // Compared as the re-arm level, not as hysteresis <= threshold - 1: 1.2 - 1 is 0.19999999999999996
    // in doubles, which would refuse a hysteresis of 0.2 whose re-arm level is exactly 1.
    if (!(hysteresis >= 0) || imbalanceThreshold - hysteresis < 1) {
      throw new IllegalArgumentException(
          String.format(
              "hysteresis is %s; it must be in [0, imbalanceThreshold - 1 = %s] so that a balanced "
                  + "world re-arms the trigger",
              hysteresis, (imbalanceThreshold - 1)));
    }
  }

  /**
   * What the policy sees.
   *
   * @param membershipChanged the epoch's active ranks differ from the ones the current plan was
   *     made for (the first plan counts as a change)
   * @param sinceLastPlan time since the current plan was published
   * @param imbalance max over mean of per-rank load since the current plan ({@link
   *     #imbalance(double[])})
   * @param armed the {@code armed} of the previous decision; {@code true} before the first one
   */
  public record Observation(
      boolean membershipChanged, Duration sinceLastPlan, double imbalance, boolean armed) {

    public Observation {
      if (sinceLastPlan == null || sinceLastPlan.isNegative()) {
        throw new IllegalArgumentException(
            "sinceLastPlan is " + sinceLastPlan + "; it must be zero or positive");
      }
      if (!(imbalance >= 1) || Double.isInfinite(imbalance)) {
        throw new IllegalArgumentException(
            "imbalance is " + imbalance + "; max/mean load is finite and at least 1");
      }
    }
  }

  /**
   * Why the policy decided as it did; the names are the CamelCase reasons surfaced in logs and
   * status.
   */
  public enum Reason {
    MembershipChanged,
    IntervalNotElapsed,
    ImbalanceAboveThreshold,
    ImbalanceFarAboveThreshold,
    Balanced,
    HeldByHysteresis,
  }

  /**
   * @param rebalance re-plan now
   * @param armed pass this back as {@link Observation#armed} next time
   * @param message the rule and the values it compared
   */
  public record Decision(boolean rebalance, Reason reason, boolean armed, String message) {}

  public Decision decide(Observation now) {
    if (now.membershipChanged()) {
      return new Decision(true, Reason.MembershipChanged, true, "active ranks changed: re-plan");
    }
    if (now.sinceLastPlan().compareTo(interval) < 0) {
      return new Decision(
          false,
          Reason.IntervalNotElapsed,
          now.armed(),
          "last plan " + now.sinceLastPlan() + " ago, interval " + interval);
    }
    double rearmLevel = imbalanceThreshold - hysteresis;
    if (now.armed() && now.imbalance() >= imbalanceThreshold) {
      return new Decision(
          true,
          Reason.ImbalanceAboveThreshold,
          false,
          "imbalance " + now.imbalance() + " >= threshold " + imbalanceThreshold + ": re-plan");
    }
    if (!now.armed() && now.imbalance() >= imbalanceThreshold + hysteresis) {
      return new Decision(
          true,
          Reason.ImbalanceFarAboveThreshold,
          false,
          "imbalance "
              + now.imbalance()
              + " >= threshold + hysteresis "
              + (imbalanceThreshold + hysteresis)
              + ": re-plan although the trigger has not re-armed");
    }
    if (now.imbalance() <= rearmLevel) {
      return new Decision(
          false,
          Reason.Balanced,
          true,
          "imbalance " + now.imbalance() + " <= re-arm level " + rearmLevel + ": keep");
    }
    return new Decision(
        false,
        now.armed() ? Reason.Balanced : Reason.HeldByHysteresis,
        now.armed(),
        "imbalance "
            + now.imbalance()
            + (now.armed()
                ? " < threshold " + imbalanceThreshold + ": keep"
                : " has not fallen to the re-arm level "
                    + rearmLevel
                    + " since the last plan: keep"));
  }

  /**
   * Max over mean of per-rank load; 1 when no rank has load.
   *
   * @throws IllegalArgumentException naming the rank when a load is negative, NaN or infinite
   */
  public static double imbalance(double[] loadPerRank) {
    if (loadPerRank.length == 0) {
      throw new IllegalArgumentException("loadPerRank is empty; at least one rank is needed");
    }
    double max = 0;
    double sum = 0;
    for (int rank = 0; rank < loadPerRank.length; rank++) {
      double load = loadPerRank[rank];
      if (!(load >= 0) || Double.isInfinite(load)) {
        throw new IllegalArgumentException(
            "loadPerRank[" + rank + "] is " + load + "; loads must be finite and non-negative");
      }
      max = Math.max(max, load);
      sum += load;
    }
    // Rounding can put max * n / sum a hair below 1 when all loads are equal.
    return sum == 0 ? 1 : Math.max(1, max * loadPerRank.length / sum);
  }
}
