package io.elasticmoe.operator.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.api.v1alpha1.ConditionReason;
import io.elasticmoe.api.v1alpha1.ConditionType;
import io.fabric8.kubernetes.api.model.Condition;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConditionsTest {
  static final Instant T0 = Instant.parse("2026-11-29T10:00:00Z");
  static final Instant T1 = Instant.parse("2026-11-29T10:05:00Z");

  @Test
  void keepsTransitionTimeWhileStatusIsUnchanged() {
    List<Condition> first = new Conditions(null, 1, T0)
        .set(ConditionType.Available, false, ConditionReason.RanksStarting, "0/4 ranks ready").toList();

    List<Condition> second = new Conditions(first, 2, T1)
        .set(ConditionType.Available, false, ConditionReason.RanksStarting, "1/4 ranks ready").toList();

    assertThat(second).singleElement().satisfies(c -> {
      assertThat(c.getLastTransitionTime()).isEqualTo(T0.toString());
      assertThat(c.getMessage()).isEqualTo("1/4 ranks ready");
      assertThat(c.getObservedGeneration()).isEqualTo(2L);
    });
  }

  @Test
  void movesTransitionTimeWhenStatusFlips() {
    List<Condition> first = new Conditions(null, 1, T0)
        .set(ConditionType.Available, false, ConditionReason.RanksStarting, "0/4").toList();

    List<Condition> second = new Conditions(first, 1, T1)
        .set(ConditionType.Available, true, ConditionReason.RanksReady, "4/4").toList();

    assertThat(second).singleElement().satisfies(c -> {
      assertThat(c.getStatus()).isEqualTo("True");
      assertThat(c.getReason()).isEqualTo("RanksReady");
      assertThat(c.getLastTransitionTime()).isEqualTo(T1.toString());
    });
  }

  @Test
  void listsConditionsInTheOrderOfTheirTypes() {
    List<Condition> conditions = new Conditions(null, 1, T0)
        .set(ConditionType.Failed, false, ConditionReason.Reconciled, "")
        .set(ConditionType.Available, true, ConditionReason.RanksReady, "")
        .set(ConditionType.Progressing, false, ConditionReason.Reconciled, "")
        .toList();

    assertThat(conditions).extracting(Condition::getType).containsExactly("Available", "Progressing", "Failed");
  }
}
