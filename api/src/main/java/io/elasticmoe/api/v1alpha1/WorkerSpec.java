package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Required;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import java.util.List;
import java.util.Map;

/** The worker pod of each rank. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class WorkerSpec {

  @Required
  @JsonPropertyDescription("Worker container image, e.g. elasticmoe/worker:dev.")
  public String image;

  @Default("IfNotPresent")
  @JsonPropertyDescription("Image pull policy of the worker container.")
  public ImagePullPolicy imagePullPolicy;

  @Default("cuda")
  @JsonPropertyDescription(
      "Data-plane backend: cuda (JCuda kernels, one GPU per rank) or cpu (Java reference backend over UCX).")
  public Backend backend;

  @JsonPropertyDescription(
      "Resources of the worker container. With backend cuda, limits should include nvidia.com/gpu: 1.")
  public ResourceRequirements resources;

  @JsonPropertyDescription("Extra environment variables of the worker container.")
  public List<EnvVar> env;

  @JsonPropertyDescription("Node selector of the rank pods.")
  public Map<String, String> nodeSelector;

  public enum Backend {
    cuda,
    cpu
  }

  public enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never
  }
}
