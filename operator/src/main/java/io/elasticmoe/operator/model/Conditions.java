package io.elasticmoe.operator.model;

import io.elasticmoe.api.v1alpha1.ConditionReason;
import io.elasticmoe.api.v1alpha1.ConditionType;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Sets conditions on a copy of a status's list. {@code lastTransitionTime} changes only when a
 * condition's status flips, so an unchanged deployment produces an identical status (no write).
 */
public final class Conditions {
  private final List<Condition> conditions;
  private final long generation;
  private final Instant now;

  public Conditions(List<Condition> previous, long generation, Instant now) {
    this.conditions = previous == null ? new ArrayList<>() : new ArrayList<>(previous);
    this.generation = generation;
    this.now = now;
  }

  public Conditions set(ConditionType type, boolean status, ConditionReason reason, String message) {
    String statusText = status ? "True" : "False";
    Condition old = find(type);
    String since =
        old != null && statusText.equals(old.getStatus()) ? old.getLastTransitionTime() : now.toString();
    Condition updated =
        new ConditionBuilder()
            .withType(type.name())
            .withStatus(statusText)
            .withReason(reason.name())
            .withMessage(message)
            .withObservedGeneration(generation)
            .withLastTransitionTime(since)
            .build();
    conditions.removeIf(c -> type.name().equals(c.getType()));
    conditions.add(updated);
    conditions.sort(java.util.Comparator.comparing(c -> ConditionType.valueOf(c.getType()).ordinal()));
    return this;
  }

  private Condition find(ConditionType type) {
    return conditions.stream().filter(c -> type.name().equals(c.getType())).findFirst().orElse(null);
  }

  public List<Condition> toList() {
    return List.copyOf(conditions);
  }
}
