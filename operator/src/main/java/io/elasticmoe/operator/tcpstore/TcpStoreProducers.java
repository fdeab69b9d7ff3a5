package io.elasticmoe.operator.tcpstore;

import io.elasticmoe.operator.rendezvous.core.KeyValueCore;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * CDI wiring of the TCPStore listeners: one {@link TcpStoreEndpoints} over the rendezvous store core,
 * so TCPStore and the gRPC Store share keys and wake each other's waits.
 */
@Singleton
public class TcpStoreProducers {

  @Produces
  @Singleton
  TcpStoreEndpoints tcpStoreEndpoints(
      KeyValueCore core,
      @ConfigProperty(name = "elasticmoe.tcpstore.bind-host", defaultValue = "0.0.0.0") String bindHost,
      @ConfigProperty(name = "elasticmoe.tcpstore.listener-ports", defaultValue = "29500-29755")
          String listenerPorts) {
    return new TcpStoreEndpoints(
        core, TcpStoreLimits.DEFAULTS, bindHost, ListenerPortRange.parse(listenerPorts));
  }

  void close(@Disposes TcpStoreEndpoints endpoints) {
    endpoints.close();
  }
}
