package io.elasticmoe.operator.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class DurationParserTest {

  @Test
  void parsesEveryUnitAndTheirSums() {
    assertThat(DurationParser.parse("f", "500ms", null)).isEqualTo(Duration.ofMillis(500));
    assertThat(DurationParser.parse("f", "2s", null)).isEqualTo(Duration.ofSeconds(2));
    assertThat(DurationParser.parse("f", "1m30s", null)).isEqualTo(Duration.ofSeconds(90));
    assertThat(DurationParser.parse("f", "1h", null)).isEqualTo(Duration.ofHours(1));
  }

  @Test
  void unsetFieldTakesTheFallback() {
    assertThat(DurationParser.parse("f", null, Duration.ofSeconds(7))).isEqualTo(Duration.ofSeconds(7));
  }

  @Test
  void rejectsTextTheSchemaWouldRejectNamingTheField() {
    assertThatThrownBy(() -> DurationParser.parse("spec.rendezvous.joinTimeout", "2 minutes", null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("spec.rendezvous.joinTimeout is '2 minutes'; expected a duration such as 500ms, 2s or 1m30s");
    assertThatThrownBy(() -> DurationParser.parse("f", "5sx", null)).isInstanceOf(IllegalArgumentException.class);
  }
}
