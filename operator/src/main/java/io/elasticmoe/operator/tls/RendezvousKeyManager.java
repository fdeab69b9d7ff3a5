package io.elasticmoe.operator.tls;

import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * The rendezvous server's key and certificate, installed after the gRPC server is built: every handshake
 * asks this manager, so the server can start before the operator has read (or issued) its certificate,
 * and a handshake before that finds no certificate and fails (clients retry). Holds one pair; the
 * installed one replaces the previous one for every later handshake.
 */
public final class RendezvousKeyManager extends X509ExtendedKeyManager {
  static final String ALIAS = "rendezvous";

  private record Pair(PrivateKey key, X509Certificate[] chain) {}

  private volatile Pair pair;

  public void install(RendezvousTlsMaterial material) {
    pair = new Pair(material.serverKey(), new X509Certificate[] {material.serverCertificate()});
  }

  public boolean installed() {
    return pair != null;
  }

  @Override
  public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
    return alias(keyType);
  }

  @Override
  public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
    return alias(keyType);
  }

  private String alias(String keyType) {
    Pair current = pair;
    return current != null && current.key().getAlgorithm().equals(keyType) ? ALIAS : null;
  }

  @Override
  public String[] getServerAliases(String keyType, Principal[] issuers) {
    String alias = alias(keyType);
    return alias == null ? null : new String[] {alias};
  }

  @Override
  public X509Certificate[] getCertificateChain(String alias) {
    Pair current = pair;
    return ALIAS.equals(alias) && current != null ? current.chain().clone() : null;
  }

  @Override
  public PrivateKey getPrivateKey(String alias) {
    Pair current = pair;
    return ALIAS.equals(alias) && current != null ? current.key() : null;
  }

  /** The server never authenticates itself as a client. */
  @Override
  public String[] getClientAliases(String keyType, Principal[] issuers) {
    return null;
  }

  @Override
  public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
    return null;
  }
}
