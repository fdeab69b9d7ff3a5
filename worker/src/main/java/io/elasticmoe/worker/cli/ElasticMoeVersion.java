package io.elasticmoe.worker.cli;

import picocli.CommandLine.IVersionProvider;

/** Reads the version Maven wrote into the jar manifest, so there is one source of truth. */
final class ElasticMoeVersion implements IVersionProvider {
  @Override
  public String[] getVersion() {
    String version = ElasticMoeCommand.class.getPackage().getImplementationVersion();
    return new String[] {"elasticmoe " + (version == null ? "(development build)" : version)};
  }
}
