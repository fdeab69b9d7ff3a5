package io.elasticmoe.operator.model;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses the CRD's Go-style durations ("500ms", "2s", "1m30s"); the schema's pattern admits only these. */
public final class DurationParser {
  private static final Pattern PART = Pattern.compile("([0-9]+)(ms|s|m|h)");

  private DurationParser() {}

  /**
   * @param field the spec path, for the error message
   * @param fallback used when the field is unset (the server fills schema defaults, so only for old CRs)
   */
  public static Duration parse(String field, String value, Duration fallback) {
    if (value == null) {
      return fallback;
    }
    Matcher m = PART.matcher(value);
    Duration total = Duration.ZERO;
    int end = 0;
    while (m.find() && m.start() == end) {
      long n = Long.parseLong(m.group(1));
      total = total.plus(switch (m.group(2)) {
        case "ms" -> Duration.ofMillis(n);
        case "s" -> Duration.ofSeconds(n);
        case "m" -> Duration.ofMinutes(n);
        default -> Duration.ofHours(n);
      });
      end = m.end();
    }
    if (end == 0 || end != value.length()) {
      throw new IllegalArgumentException(field + " is '" + value + "'; expected a duration such as 500ms, 2s or 1m30s");
    }
    return total;
  }
}
