package io.elasticmoe.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * An elastic expert-parallel MoE inference cluster: one worker pod per EP rank, resized with
 * {@code kubectl scale emd/NAME --replicas=N} while it keeps serving.
 */
@Group(ElasticMoEDeployment.GROUP)
@Version(ElasticMoEDeployment.VERSION)
@Kind("ElasticMoEDeployment")
@Singular("elasticmoedeployment")
@Plural("elasticmoedeployments")
@ShortNames("emd")
@AdditionalPrinterColumn(name = "Desired", jsonPath = ".spec.replicas", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Ready", jsonPath = ".status.readyReplicas", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "World", jsonPath = ".status.worldSize", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Epoch", jsonPath = ".status.epoch", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Available",
    jsonPath = ".status.conditions[?(@.type==\"Available\")].status",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class ElasticMoEDeployment extends CustomResource<ElasticMoEDeploymentSpec, ElasticMoEDeploymentStatus>
    implements Namespaced {

  public static final String GROUP = "elasticmoe.io";
  public static final String VERSION = "v1alpha1";
  public static final String CRD_NAME = "elasticmoedeployments." + GROUP;
}
