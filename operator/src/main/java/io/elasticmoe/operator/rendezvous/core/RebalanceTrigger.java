package io.elasticmoe.operator.rendezvous.core;

import io.elasticmoe.placement.RebalancePolicy;
import io.elasticmoe.placement.RebalancePolicy.Decision;
import io.elasticmoe.placement.RebalancePolicy.Observation;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The load side of {@link RebalancePolicy}, as immutable values: the tokens each active rank reported
 * since the current placement was published, when that was, and the policy's {@code armed} bit.
 *
 * <p>The policy is asked only once every active rank reported at least once under the current placement:
 * before that, a rank that has not reported yet would count as idle and fake an imbalance. The imbalance
 * is max over mean of the tokens per active rank over the whole window since the plan (ranks outside the
 * placement's active set hold no slots and are not counted).
 *
 * <p>A decision to re-plan is not adopted here: the caller persists the new version first and then calls
 * {@link #afterPlan} (success) or {@link #afterFailedAttempt} (the cooldown restarts, the bit stays), so
 * a failed attempt is retried no sooner than one interval later.
 */
public final class RebalanceTrigger {
  private final RebalancePolicy policy;
  private final int[] ranks;
  private final long[] tokens;
  private final boolean[] reported;
  private final Instant since;
  private final boolean armed;

  private RebalanceTrigger(
      RebalancePolicy policy, int[] ranks, long[] tokens, boolean[] reported, Instant since, boolean armed) {
    this.policy = policy;
    this.ranks = ranks;
    this.tokens = tokens;
    this.reported = reported;
    this.since = since;
    this.armed = armed;
  }

  /**
   * The window that opens when a placement for {@code activeRanks} is published at {@code at}.
   *
   * @param armed the {@link Decision#armed} of the decision that led to the plan
   */
  public static RebalanceTrigger afterPlan(
      RebalancePolicy policy, List<Integer> activeRanks, Instant at, boolean armed) {
    int[] ranks = activeRanks.stream().mapToInt(Integer::intValue).sorted().distinct().toArray();
    if (ranks.length == 0) {
      throw new IllegalArgumentException("a placement has at least one active rank");
    }
    return new RebalanceTrigger(policy, ranks, new long[ranks.length], new boolean[ranks.length], at, armed);
  }

  /** The same window under a new policy (the spec changed); counts, time and bit are kept. */
  public RebalanceTrigger withPolicy(RebalancePolicy next) {
    return new RebalanceTrigger(next, ranks, tokens, reported, since, armed);
  }

  /**
   * Adds one report of {@code rank}: the tokens its slots received. A rank outside the active set holds
   * no slots of the current placement and changes nothing.
   */
  public RebalanceTrigger withReport(int rank, long receivedTokens) {
    if (receivedTokens < 0) {
      throw new IllegalArgumentException(
          "rank " + rank + " reported " + receivedTokens + " tokens; token counts cannot be negative");
    }
    int i = Arrays.binarySearch(ranks, rank);
    if (i < 0) {
      return this;
    }
    long[] nextTokens = tokens.clone();
    nextTokens[i] = saturatingAdd(nextTokens[i], receivedTokens);
    boolean[] nextReported = reported.clone();
    nextReported[i] = true;
    return new RebalanceTrigger(policy, ranks, nextTokens, nextReported, since, armed);
  }

  /**
   * What the policy decides at {@code now}; empty while some active rank has not reported under the
   * current placement. Adopt a decision not to re-plan with {@link #kept}.
   */
  public Optional<Evaluation> evaluate(Instant now) {
    for (boolean r : reported) {
      if (!r) {
        return Optional.empty();
      }
    }
    double imbalance = imbalance();
    Duration sincePlan = now.isBefore(since) ? Duration.ZERO : Duration.between(since, now);
    Decision decision = policy.decide(new Observation(false, sincePlan, imbalance, armed));
    return Optional.of(new Evaluation(imbalance, decision));
  }

  /** Max over mean of the tokens per active rank since the plan ({@link RebalancePolicy#imbalance}). */
  public double imbalance() {
    double[] load = new double[tokens.length];
    for (int i = 0; i < tokens.length; i++) {
      load[i] = tokens[i];
    }
    return RebalancePolicy.imbalance(load);
  }

  /** Adopts a decision to keep the placement: only the bit can change. */
  public RebalanceTrigger kept(Decision decision) {
    if (decision.rebalance()) {
      throw new IllegalArgumentException("decision " + decision.reason() + " re-plans; adopt it with afterPlan");
    }
    return new RebalanceTrigger(policy, ranks, tokens, reported, since, decision.armed());
  }

  /** A re-plan could not be persisted at {@code now}: the window stays, the cooldown restarts. */
  public RebalanceTrigger afterFailedAttempt(Instant now) {
    return new RebalanceTrigger(policy, ranks, tokens, reported, now, armed);
  }

  public boolean armed() {
    return armed;
  }

  public Instant since() {
    return since;
  }

  public RebalancePolicy policy() {
    return policy;
  }

  /**
   * @param imbalance max over mean of the tokens per active rank since the plan
   * @param decision the policy's answer
   */
  public record Evaluation(double imbalance, Decision decision) {}

  private static long saturatingAdd(long a, long b) {
    long sum = a + b;
    return sum < 0 ? Long.MAX_VALUE : sum;
  }
}
