package io.elasticmoe.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;

/**
 * The PyTorch-TCPStore-compatible endpoint on the deployment's rendezvous store (docs/tcpstore.md).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class TcpStoreSpec {

  @Default("false")
  @JsonPropertyDescription(
      "Serve this deployment's rendezvous key/value store over PyTorch's TCPStore wire protocol, so "
          + "unmodified torch.distributed.TCPStore clients (is_master=False) in rank pods share keys "
          + "with the gRPC store. The TCPStore protocol has NO authentication: any process that can "
          + "reach the port can read and write every key of this deployment. The operator therefore "
          + "creates a NetworkPolicy that admits only this deployment's rank pods; on a cluster whose "
          + "network plugin does not enforce NetworkPolicy, the port is open to every pod.")
  public Boolean enabled;

  @Default("29500")
  @Min(1)
  @Max(65535)
  @JsonPropertyDescription(
      "Port of the deployment's TCPStore Service (what clients dial, e.g. MASTER_PORT). Only this "
          + "deployment's rank pods may connect (NetworkPolicy); the protocol has no authentication.")
  public Integer port;
}
