package io.elasticmoe.worker.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/** {@code bench dataplane} and {@code run} reject bad arguments with a message naming value and limit. */
class DataplaneCommandsTest {

  private static String runExpectingFailure(String... args) {
    StringWriter err = new StringWriter();
    CommandLine cli = new CommandLine(new ElasticMoeCommand());
    cli.setErr(new PrintWriter(err));
    cli.setOut(new PrintWriter(new StringWriter()));
    int exit = cli.execute(args);
    assertThat(exit).as("exit code of %s", String.join(" ", args)).isNotZero();
    return err.toString();
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "bench dataplane --backend gpu | --backend is gpu",
    "bench dataplane --ranks 1 | --ranks is 1",
    "bench dataplane --topk 17 | --topk is 17",
    "bench dataplane --hidden 200 | hidden is 200",
    "bench dataplane --hidden 640 | --hidden is 640; fp8 dispatch needs a multiple of 512",
    "bench dataplane --tokens 2000 | maxTokensPerRank is 2000",
    "bench dataplane --dispatch-dtype fp16 | --dispatch-dtype is fp16",
    "bench dataplane --baseline-runs 0 | --baseline-runs is 0",
    "bench dataplane --warmup -1 | --warmup is -1",
    "bench dataplane --loopback-warmup-ms -1 | --loopback-warmup-ms is -1",
    "run --store-dir /tmp/x --world 0,1 --rank 0 --warmup-ms -5 | --warmup-ms is -5",
    "run --store-dir /tmp/x | --world is required",
    "run --store-dir /tmp/x --world 0,1 --rank 2 | does not contain --rank 2",
    "run --store-dir /tmp/x --world 0,9 --rank 0 | --world contains 9",
    "run --store-dir /tmp/x --world 0,1 --rank 0 --logical-experts 9 --slots-per-rank 4 | --logical-experts is 9",
    "run --store-dir /tmp/x --world 0,1 --rank 0 --switch-interval 0 | --switch-interval is 0",
  })
  void rejectsBadArgumentsNamingTheValue(String command, String expected) {
    assertThat(runExpectingFailure(command.trim().split(" "))).contains(expected.trim());
  }
}
