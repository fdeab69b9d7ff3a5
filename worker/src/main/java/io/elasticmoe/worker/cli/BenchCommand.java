package io.elasticmoe.worker.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code elasticmoe bench ...}: side-by-side benchmarks whose results go to docs/benchmarks.md. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = "Benchmarks, each run side by side with its baseline.",
    subcommands = {
      CommandLine.HelpCommand.class,
      io.elasticmoe.worker.bench.placement.BenchEplbCommand.class,
      BenchDataplaneCommand.class,
      BenchRendezvousCommand.class,
      BenchDataplaneCudaCommand.class,
    })
public final class BenchCommand implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "a benchmark name is required");
  }
}
