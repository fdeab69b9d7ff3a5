package io.elasticmoe.worker.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The Java side of {@code bin/elasticmoe}: every subcommand that runs on the JVM is registered here.
 * Cluster management ({@code cluster up|down|status}) and {@code demo}/{@code test} are shell and live in
 * {@code bin/elasticmoe} and {@code e2e/cluster/}.
 */
@Command(
    name = "elasticmoe",
    mixinStandardHelpOptions = true,
    versionProvider = ElasticMoeVersion.class,
    description = "Elastic expert-parallel MoE inference: worker runtime, tools and benchmarks.",
    subcommands = {
      CommandLine.HelpCommand.class,
      BenchCommand.class,
      EplbCommand.class,
      RunCommand.class,
    })
public final class ElasticMoeCommand implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required");
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new ElasticMoeCommand()).execute(args));
  }
}
