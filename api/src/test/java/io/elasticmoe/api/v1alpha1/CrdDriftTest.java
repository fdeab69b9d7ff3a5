package io.elasticmoe.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The CRD in {@code crds/} is what the build generates: Fabric8's crd-generator output plus the schema
 * rules its annotations cannot express ({@link #finish}). Regenerate the checked-in file with
 * {@code ./mvnw -pl api test -Dtest=CrdDriftTest -Delasticmoe.crds.update=true}.
 */
class CrdDriftTest {

  static final String FILE = ElasticMoEDeployment.CRD_NAME + "-v1.yml";

  @Test
  void checkedInCrdEqualsGeneratedCrd() throws IOException {
    Path generated = Path.of(System.getProperty("elasticmoe.generated.crds.dir"), FILE);
    Path checkedIn = Path.of(System.getProperty("elasticmoe.crds.dir"), FILE);
    CustomResourceDefinition expected = finish(load(generated));

    Path inChart = chartCrd();
    if (Boolean.getBoolean("elasticmoe.crds.update")) {
      Files.writeString(checkedIn, Serialization.asYaml(expected));
      Files.writeString(inChart, Serialization.asYaml(expected));
    }

    assertThat(checkedIn)
        .as("crds/%s is missing; run with -Delasticmoe.crds.update=true", FILE)
        .exists();
    assertThat(load(checkedIn))
        .as("crds/%s differs from the generated CRD; run with -Delasticmoe.crds.update=true", FILE)
        .isEqualTo(expected);
    assertThat(inChart)
        .as("the Helm chart's CRD differs from crds/%s; run with -Delasticmoe.crds.update=true", FILE)
        .hasSameTextualContentAs(checkedIn);
  }

  private static Path chartCrd() {
    return Path.of(System.getProperty("elasticmoe.crds.dir"), "..", "helm", "elasticmoe", "crds", FILE);
  }

  @Test
  void printerColumnsComeInTheDocumentedOrder() throws IOException {
    Path checkedIn = Path.of(System.getProperty("elasticmoe.crds.dir"), FILE);
    assertThat(load(checkedIn).getSpec().getVersions().get(0).getAdditionalPrinterColumns())
        .extracting(column -> column.getName())
        .containsExactlyElementsOf(PRINTER_COLUMN_ORDER);
  }

  @Test
  void hiddenMustBeAMultipleOf128() throws IOException {
    Path checkedIn = Path.of(System.getProperty("elasticmoe.crds.dir"), FILE);
    assertThat(modelProperties(load(checkedIn)).get("hidden").getMultipleOf()).isEqualTo(128.0);
  }

  /** Column order of `kubectl get emd`; the generator sorts columns by name. */
  static final List<String> PRINTER_COLUMN_ORDER = List.of("Desired", "Ready", "World", "Epoch", "Available", "Age");

  /** What Fabric8's annotations cannot express: multipleOf, and the printer columns' order. */
  static CustomResourceDefinition finish(CustomResourceDefinition crd) {
    modelProperties(crd).get("hidden").setMultipleOf(128.0);
    crd.getSpec().getVersions().get(0).getAdditionalPrinterColumns()
        .sort(Comparator.comparing(column -> PRINTER_COLUMN_ORDER.indexOf(column.getName())));
    return crd;
  }

  private static java.util.Map<String, JSONSchemaProps> modelProperties(CustomResourceDefinition crd) {
    return crd.getSpec().getVersions().get(0).getSchema().getOpenAPIV3Schema()
        .getProperties().get("spec").getProperties().get("model").getProperties();
  }

  private static CustomResourceDefinition load(Path file) throws IOException {
    return Serialization.unmarshal(Files.readString(file), CustomResourceDefinition.class);
  }
}
