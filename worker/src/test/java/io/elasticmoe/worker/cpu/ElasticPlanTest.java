package io.elasticmoe.worker.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import io.elasticmoe.worker.runtime.WorkerJvm;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Elastic plans as in NIXL-EP's {@code tests/elastic}: one JVM per rank ({@link PlanRank}), real UCX over
 * shared memory, a directory-backed store. A phase lists its ranks; a rank missing from the next phase
 * leaves cleanly; a negative rank is killed ({@code destroyForcibly}) during its first dispatch or
 * combine of that phase and may come back later as a new process. Every rank checks every output itself;
 * here we check that all survivors finish and that each observed masked set equals the plan's killed set.
 */
class ElasticPlanTest {

  @TempDir Path storeDir;

  static int[][] parse(String plan) {
    return Arrays.stream(plan.split(";"))
        .map(phase -> Arrays.stream(phase.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray())
        .toArray(int[][]::new);
  }

  /** A rank's process lifetime: from its first phase to the phase it leaves or is killed in. */
  private record Segment(int rank, int firstPhase) {}

  private static List<Segment> segments(int[][] plan) {
    List<Segment> segments = new ArrayList<>();
    for (int rank = 0; rank < PlanRank.MAX_RANKS; rank++) {
      boolean running = false;
      for (int phase = 0; phase < plan.length; phase++) {
        int r = rank;
        boolean present = Arrays.stream(plan[phase]).anyMatch(x -> Math.abs(x) == r);
        boolean killed = Arrays.stream(plan[phase]).anyMatch(x -> x == -r && x != 0);
        if (present && !running) {
          segments.add(new Segment(rank, phase));
          running = true;
        }
        if (!present || killed) {
          running = false;
        }
      }
    }
    return segments;
  }

  @ParameterizedTest(name = "{0} kill at {1}")
  @CsvSource(delimiter = '|', value = {
    "0,1,2,3 | dispatch",
    "0,1,2,3;0,1,2,3,4,5,6,7 | dispatch",
    "0,1,2,3;0,1,2,3,4,5;0,1,2,3,4,5,6,7 | dispatch",
    "0,1,2,3;0,1,2,3,4,5,6,7;0,1,2,3,4,-6,7;0,1,2,3,4,5,6,7 | dispatch",
    "0,1;0,1,2,3;0,1,-2,3;0,3 | dispatch",
    "0,1,2;0,-1,2 | combine",
  })
  void survivorsFinishAndMaskExactlyTheKilledRanks(String planText, String killAt) throws Exception {
    int[][] plan = parse(planText);
    Map<Integer, List<String>> linesBySegment = new ConcurrentHashMap<>();
    List<Throwable> failures = new CopyOnWriteArrayList<>();
    Map<Integer, List<Segment>> byRank = segments(plan).stream().collect(Collectors.groupingBy(Segment::rank));
    List<Thread> launchers = new ArrayList<>();
    List<Segment> all = new ArrayList<>();
    byRank.values().forEach(all::addAll);
    for (List<Segment> rankSegments : byRank.values()) {
      // A rank's next process starts only after the previous one is gone, so it cannot see (or delete)
      // the old process's store key.
      Thread launcher = new Thread(() -> {
        for (Segment segment : rankSegments) {
          try {
            List<String> lines = new CopyOnWriteArrayList<>();
            linesBySegment.put(all.indexOf(segment), lines);
            runSegment(segment, planText, killAt, lines);
          } catch (Throwable t) {
            failures.add(t);
          }
        }
      });
      launcher.start();
      launchers.add(launcher);
    }
    for (Thread launcher : launchers) {
      launcher.join(TimeUnit.MINUTES.toMillis(4));
      assertThat(launcher.isAlive()).as("a rank process of plan %s still runs after 4 minutes", planText).isFalse();
    }
    assertThat(failures).isEmpty();

    for (Segment segment : all) {
      List<String> lines = linesBySegment.get(all.indexOf(segment));
      for (int phase = segment.firstPhase(); phase < plan.length; phase++) {
        int p = phase;
        Set<Integer> killed = Arrays.stream(plan[phase]).filter(r -> r < 0).map(r -> -r).boxed()
            .collect(Collectors.toCollection(TreeSet::new));
        boolean inPhase = Arrays.stream(plan[phase]).anyMatch(r -> r == segment.rank());
        if (!inPhase) {
          break;
        }
        assertThat(lines).as("rank %d phase %d", segment.rank(), phase)
            .contains("PHASE " + p + " MASKED " + killed + " REPORTED " + killed);
      }
    }
  }

  private void runSegment(Segment segment, String plan, String killAt, List<String> lines) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new ArrayList<>(List.of(java));
    command.addAll(WorkerJvm.FLAGS);
    command.addAll(List.of("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-cp", System.getProperty("java.class.path"), PlanRank.class.getName(),
        storeDir.toString(), Integer.toString(segment.rank()), Integer.toString(segment.firstPhase()), killAt, plan));
    Process process = new ProcessBuilder(command)
        .redirectErrorStream(true)
        .start();
    boolean killedByUs = false;
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream()))) {
      String line;
      while ((line = reader.readLine()) != null) {
        lines.add(line);
        if (line.equals("KILL-ME")) {
          process.destroyForcibly();
          killedByUs = true;
        }
      }
    } catch (IOException e) {
      // The stream closes under us when the process is destroyed.
    }
    boolean exited = process.waitFor(3, TimeUnit.MINUTES);
    if (!exited) {
      process.destroyForcibly();
      throw new AssertionError("rank " + segment.rank() + " from phase " + segment.firstPhase() + " hung:\n"
          + String.join("\n", lines));
    }
    if (!killedByUs && process.exitValue() != 0) {
      throw new AssertionError("rank " + segment.rank() + " from phase " + segment.firstPhase() + " exited "
          + process.exitValue() + ":\n" + String.join("\n", lines));
    }
  }
}
