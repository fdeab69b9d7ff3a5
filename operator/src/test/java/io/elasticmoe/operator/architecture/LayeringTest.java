package io.elasticmoe.operator.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Model classes compute desired state and decisions; they never talk to the API server, the network,
 * CDI or the clock (STYLE.md §6.2). Adapters and sequencers are the only places with I/O.
 */
class LayeringTest {
  private static JavaClasses classes;

  @BeforeAll
  static void importClasses() {
    classes = new ClassFileImporter()
        .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .importPackages("io.elasticmoe.operator", "io.elasticmoe.placement");
  }

  @Test
  void modelAndCoreClassesDoNoIo() {
    noClasses()
        .that().resideInAnyPackage("..operator.model..", "..rendezvous.core..", "io.elasticmoe.placement..")
        .should().dependOnClassesThat().resideInAnyPackage(
            "io.fabric8.kubernetes.client..",
            "io.grpc..",
            "io.quarkus..",
            "io.javaoperatorsdk..",
            "jakarta.enterprise..",
            "java.net..",
            "java.nio.channels..")
        .check(classes);
  }

  @Test
  void modelAndCoreClassesReadNoWallClock() {
    noClasses()
        .that().resideInAnyPackage("..operator.model..", "..rendezvous.core..", "io.elasticmoe.placement..")
        .should().callMethod(java.time.Instant.class, "now")
        .orShould().callMethod(System.class, "currentTimeMillis")
        .orShould().callMethod(java.time.Clock.class, "systemUTC")
        .check(classes);
  }
}
