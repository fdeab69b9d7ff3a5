package io.elasticmoe.api.v1alpha1;

/** The one pattern for duration fields: Go-style, e.g. "500ms", "10s", "1m30s". */
public final class Durations {
  public static final String PATTERN = "^([0-9]+(ms|s|m|h))+$";

  private Durations() {}
}
