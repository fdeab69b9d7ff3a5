package io.elasticmoe.worker.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import io.elasticmoe.worker.runtime.WorkerJvm;
import io.elasticmoe.worker.transport.UcxTransport;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The collective epoch switch with real processes and real UCX: one JVM per rank ({@link SwitchRank})
 * steps continuously (a checked dispatch + combine per step) while the membership grows from 4 to 6
 * ranks, drains two of them, and loses one to a kill. Every rank of a world must leave it at the same
 * step for the same successor, no step may fail its checks, and the only rank ever masked is the killed one.
 */
class EpochSwitchTest {

  private static final int INTERVAL = 4;
  private static final long FINAL_EPOCH = 5;
  private static final long FINAL_STEPS = 40;
  private static final long WAIT_MILLIS = TimeUnit.MINUTES.toMillis(2);

  @TempDir Path dir;

  /** UCX_TLS of the rank processes: shared memory, and tcp as between rank pods. */
  private String transports;
  private final List<String> membership = new ArrayList<>();
  private final Map<Integer, RankProcess> ranks = new TreeMap<>();

  private record RankProcess(int rank, Process process, List<String> lines) {
    boolean printed(Predicate<String> line) {
      return lines.stream().anyMatch(line);
    }
  }

  @ParameterizedTest(name = "UCX_TLS={0}")
  @ValueSource(strings = {UcxTransport.HOST_TRANSPORTS, "tcp,self"})
  void scaleUpDrainAndLossWhileSteppingMaskOnlyTheLostRank(String transports) throws Exception {
    this.transports = transports;
    Files.createDirectories(dir.resolve("store"));
    for (int r = 0; r < 4; r++) {
      start(r);
    }
    announce("1 0,1,2,3");
    awaitSteps("1.0", 20, 0, 1, 2, 3);

    // Scale-up: the new ranks are up (and joined) before the membership commits the epoch with them.
    start(4);
    start(5);
    announce("2 0,1,2,3,4,5");
    awaitSteps("2.0", 20, 0, 1, 2, 3, 4, 5);

    // Scale-down: both drain in epoch 2; each one's Leave commits the next epoch without it.
    announce("2 0,1,2,3,4,5 drain:4,5");
    int first = awaitAny(line -> line.equals("DRAINED"), 4, 5);
    int second = first == 4 ? 5 : 4;
    announce("3 0,1,2,3," + second + " drain:" + second);
    awaitAny(line -> line.equals("DRAINED"), second);
    announce("4 0,1,2,3");
    awaitSteps("4.0", 20, 0, 1, 2, 3);

    // Loss: rank 3 dies mid-step; the membership then commits the world without it.
    ranks.get(3).process().destroyForcibly();
    announce("5 0,1,2");
    for (int r : new int[] {0, 1, 2, 4, 5}) {
      RankProcess p = ranks.get(r);
      assertThat(p.process().waitFor(WAIT_MILLIS, TimeUnit.MILLISECONDS)).as("rank %d exits:%n%s", r, log(r)).isTrue();
      assertThat(p.process().exitValue()).as("rank %d exit value:%n%s", r, log(r)).isZero();
    }
    for (int r : new int[] {0, 1, 2}) {
      assertThat(ranks.get(r).lines()).as("rank %d", r).contains("DONE");
    }

    // The switches and masks each rank saw, for the build log.
    ranks.values().forEach(p -> p.lines().stream().filter(l -> l.startsWith("SWITCH") || l.startsWith("MASKED"))
        .forEach(l -> System.out.println("rank " + p.rank() + ": " + l)));
    Map<String, Set<String>> leftAt = new TreeMap<>();
    Map<Integer, List<String>> masked = new TreeMap<>();
    for (RankProcess p : ranks.values()) {
      for (String line : p.lines()) {
        String[] f = line.split(" ");
        if (f[0].equals("SWITCH") && !f[1].equals("-")) {
          // Every rank of a world leaves it at one step for one successor.
          leftAt.computeIfAbsent(f[1], k -> new TreeSet<>()).add(f[2] + "@" + f[3]);
        }
        if (f[0].equals("MASKED")) {
          masked.computeIfAbsent(p.rank(), k -> new ArrayList<>()).add(line);
        }
        assertThat(line).as("rank %d", p.rank()).doesNotContain("CONNECT-TIMEOUT").doesNotContain("Exception");
      }
    }
    assertThat(leftAt).containsKeys("1.0", "2.0", "4.0");
    assertThat(leftAt).allSatisfy((world, successors) -> assertThat(successors).as("switches out of %s", world).hasSize(1));
    assertThat(leftAt.get("1.0")).containsExactly("2.0@" + leftAt.get("1.0").iterator().next().split("@")[1]);
    assertThat(ranks.get(4).lines()).contains("SWITCH - 2.0 0 v0");
    assertThat(ranks.get(5).lines()).contains("SWITCH - 2.0 0 v0");
    assertThat(masked).as("only the killed rank is masked, by the survivors of its world").containsOnlyKeys(0, 1, 2)
        .allSatisfy((r, lines) -> assertThat(lines).allMatch(l -> l.startsWith("MASKED 3 4.")));
  }

  /**
   * Load-driven re-plans while stepping: the operator publishes placement versions 2 and 3 in epoch 1,
   * then version 4 for epoch 2 (a fifth rank) before that epoch's assignment. Every step is the MoE layer
   * checked against its reference, so a step where ranks route by different placements fails; every rank
   * must install each version at the same step, none early, and no rank is ever masked.
   */
  @ParameterizedTest(name = "UCX_TLS={0}")
  @ValueSource(strings = {UcxTransport.HOST_TRANSPORTS, "tcp,self"})
  void sameEpochPlacementVersionsAreInstalledByAllRanksAtOneStep(String transports) throws Exception {
    this.transports = transports;
    Files.createDirectories(dir.resolve("store"));
    for (int r = 0; r < 4; r++) {
      start(r, "moe", 2, FINAL_STEPS);
    }
    announce("placement 1 1 0,1,2,3");
    announce("1 0,1,2,3");
    awaitSteps("1.0", 20, 0, 1, 2, 3);
    announce("placement 2 1 0,1,2,3");
    awaitSteps("1.1", 20, 0, 1, 2, 3);
    announce("placement 3 1 0,1,2,3");
    awaitSteps("1.2", 20, 0, 1, 2, 3);
    start(4, "moe", 2, FINAL_STEPS);
    announce("placement 4 2 0,1,2,3,4"); // published before the epoch commits: nobody installs it early
    announce("2 0,1,2,3,4");
    for (int r = 0; r < 5; r++) {
      RankProcess p = ranks.get(r);
      assertThat(p.process().waitFor(WAIT_MILLIS, TimeUnit.MILLISECONDS)).as("rank %d exits:%n%s", r, log(r)).isTrue();
      assertThat(p.process().exitValue()).as("rank %d exit value:%n%s", r, log(r)).isZero();
      assertThat(p.lines()).as("rank %d", r).contains("DONE").noneMatch(l -> l.startsWith("MASKED"))
          .noneMatch(l -> l.contains("Exception") || l.contains("CONNECT-TIMEOUT"));
    }

    ranks.values().forEach(p -> p.lines().stream().filter(l -> l.startsWith("SWITCH") || l.startsWith("INSTALLED"))
        .forEach(l -> System.out.println("rank " + p.rank() + ": " + l)));
    Map<String, Set<String>> leftAt = new TreeMap<>();
    Map<String, Set<String>> phy2logOfVersion = new TreeMap<>();
    for (RankProcess p : ranks.values()) {
      for (String line : p.lines()) {
        String[] f = line.split(" ", 3);
        if (f[0].equals("SWITCH") && !f[1].equals("-")) {
          leftAt.computeIfAbsent(f[1], k -> new TreeSet<>()).add(f[2]);
        }
        if (f[0].equals("INSTALLED")) {
          phy2logOfVersion.computeIfAbsent(f[1], k -> new TreeSet<>()).add(f[2]);
        }
      }
    }
    // Every world is left at one step for one successor with one placement version, by all its ranks.
    assertThat(leftAt).containsOnlyKeys("1.0", "1.1", "1.2");
    assertThat(leftAt).allSatisfy((world, successors) -> assertThat(successors).as("switches out of %s", world).hasSize(1));
    assertThat(leftAt.get("1.0").iterator().next()).startsWith("1.1 ").endsWith(" v2");
    assertThat(leftAt.get("1.1").iterator().next()).startsWith("1.2 ").endsWith(" v3");
    assertThat(leftAt.get("1.2").iterator().next()).startsWith("2.0 ").endsWith(" v4");
    assertThat(ranks.get(4).lines()).contains("SWITCH - 2.0 0 v4");
    for (int r = 0; r < 4; r++) {
      assertThat(ranks.get(r).lines().stream().filter(l -> l.startsWith("INSTALLED")).map(l -> l.split(" ")[1]))
          .as("rank %d installs every version once, in order", r).containsExactly("1", "2", "3", "4");
    }
    assertThat(phy2logOfVersion).allSatisfy((v, plans) -> assertThat(plans).as("version %s on every rank", v).hasSize(1));
    assertThat(phy2logOfVersion.values().stream().map(plans -> plans.iterator().next()).distinct())
        .as("each version places the experts differently").hasSize(4);
  }

  private void start(int rank) throws IOException {
    start(rank, "ep", FINAL_EPOCH, FINAL_STEPS);
  }

  private void start(int rank, String mode, long finalEpoch, long finalSteps) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new ArrayList<>(List.of(java));
    command.addAll(WorkerJvm.FLAGS);
    command.addAll(List.of("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-cp", System.getProperty("java.class.path"), SwitchRank.class.getName(),
        dir.resolve("store").toString(), dir.resolve("membership").toString(), Integer.toString(rank),
        Integer.toString(INTERVAL), Long.toString(finalEpoch), Long.toString(finalSteps), mode, transports));
    Process process = new ProcessBuilder(command)
        .redirectErrorStream(true)
        .start();
    List<String> lines = new CopyOnWriteArrayList<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream()))) {
        for (String line; (line = in.readLine()) != null; ) {
          lines.add(line);
        }
      } catch (IOException e) {
        // The stream closes under us when the process is destroyed.
      }
    });
    reader.setDaemon(true);
    reader.start();
    ranks.put(rank, new RankProcess(rank, process, lines));
  }

  /** Appends an assignment line, replacing the file atomically so a reader never sees half a line. */
  private void announce(String line) throws IOException {
    membership.add(line);
    Path temporary = dir.resolve("membership.tmp");
    Files.write(temporary, membership);
    Files.move(temporary, dir.resolve("membership"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  private void awaitSteps(String world, long steps, int... of) throws InterruptedException {
    for (int r : of) {
      await(r, line -> {
        String[] f = line.split(" ");
        return f[0].equals("STEP") && f[1].equals(world) && Long.parseLong(f[2]) >= steps;
      }, "step " + steps + " of world " + world);
    }
  }

  private int awaitAny(Predicate<String> wanted, int... of) throws InterruptedException {
    long deadline = System.currentTimeMillis() + WAIT_MILLIS;
    while (System.currentTimeMillis() < deadline) {
      for (int r : of) {
        if (ranks.get(r).printed(wanted)) {
          return r;
        }
      }
      Thread.sleep(50);
    }
    StringBuilder logs = new StringBuilder();
    for (int r : of) {
      logs.append(log(r));
    }
    throw new AssertionError("no rank printed the awaited line:\n" + logs);
  }

  private void await(int rank, Predicate<String> wanted, String what) throws InterruptedException {
    long deadline = System.currentTimeMillis() + WAIT_MILLIS;
    RankProcess p = ranks.get(rank);
    while (!p.printed(wanted)) {
      if (System.currentTimeMillis() > deadline || !p.process().isAlive() && !p.printed(wanted)) {
        Thread.sleep(200); // let the reader drain the output
        throw new AssertionError("rank " + rank + " did not reach " + what + ":\n" + log(rank) + "\nothers:\n" + allLogs());
      }
      Thread.sleep(50);
    }
  }

  private String log(int rank) {
    List<String> lines = ranks.get(rank).lines();
    return "--- rank " + rank + "\n" + String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size())) + "\n";
  }

  private String allLogs() {
    StringBuilder all = new StringBuilder();
    ranks.keySet().forEach(r -> all.append(log(r)));
    return all.toString();
  }
}
