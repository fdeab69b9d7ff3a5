package io.elasticmoe.operator.tcpstore;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The operator-side ports TCPStore listeners may bind ({@code elasticmoe.tcpstore.listener-ports},
 * e.g. {@code 29500-29755}): one port per deployment with the endpoint enabled, so the range bounds
 * how many deployments one operator can serve that way.
 *
 * <p>Decides the order in which ports are tried for a deployment: the port it had before (from its
 * status, so a restarted operator keeps it and Services need no change) when that is still in the
 * range and not another deployment's, then every other free port from the lowest.
 */
public record ListenerPortRange(int first, int last) {

  public ListenerPortRange {
    if (first < 1 || last > 65_535 || first > last) {
      throw new IllegalArgumentException(
          "tcpstore listener port range is "
              + first
              + "-"
              + last
              + "; it must be FIRST-LAST with 1 <= FIRST <= LAST <= 65535");
    }
  }

  /** Parses {@code FIRST-LAST} or a single port. */
  public static ListenerPortRange parse(String text) {
    String trimmed = text.trim();
    int dash = trimmed.indexOf('-');
    try {
      if (dash < 0) {
        int port = Integer.parseInt(trimmed);
        return new ListenerPortRange(port, port);
      }
      return new ListenerPortRange(
          Integer.parseInt(trimmed.substring(0, dash).trim()),
          Integer.parseInt(trimmed.substring(dash + 1).trim()));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "tcpstore listener port range is '" + text + "'; expected FIRST-LAST, e.g. 29500-29755", e);
    }
  }

  public boolean contains(int port) {
    return port >= first && port <= last;
  }

  public int size() {
    return last - first + 1;
  }

  /**
   * Ports to try, in order, for a deployment that had {@code previous} (null when it had none) while
   * {@code taken} are bound by other deployments.
   */
  public List<Integer> candidates(Integer previous, Set<Integer> taken) {
    List<Integer> ports = new ArrayList<>();
    if (previous != null && contains(previous) && !taken.contains(previous)) {
      ports.add(previous);
    }
    for (int port = first; port <= last; port++) {
      if (!taken.contains(port) && (previous == null || port != previous)) {
        ports.add(port);
      }
    }
    return ports;
  }

  @Override
  public String toString() {
    return first + "-" + last;
  }
}
