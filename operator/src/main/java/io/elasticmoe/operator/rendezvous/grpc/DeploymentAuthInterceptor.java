package io.elasticmoe.operator.rendezvous.grpc;

import io.elasticmoe.operator.rendezvous.core.DeploymentKey;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;

/**
 * Authenticates every rendezvous call and puts the caller's deployment into the gRPC {@link Context},
 * where the services read it ({@link #DEPLOYMENT}). No handler runs before this check.
 *
 * <ul>
 *   <li>a token that belongs to no deployment during the startup grace of the registry: UNAVAILABLE;
 *   <li>missing {@code authorization}, a scheme other than Bearer, an empty token, or a token that
 *       belongs to no deployment: UNAUTHENTICATED, each with its own description;
 *   <li>missing or malformed {@code x-elasticmoe-deployment}: UNAUTHENTICATED (the caller is not
 *       identified);
 *   <li>a valid token of a deployment other than the named one: PERMISSION_DENIED (without naming the
 *       token's owner).
 * </ul>
 */
@Singleton
public class DeploymentAuthInterceptor implements ServerInterceptor {
  public static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  public static final Metadata.Key<String> DEPLOYMENT_HEADER =
      Metadata.Key.of("x-elasticmoe-deployment", Metadata.ASCII_STRING_MARSHALLER);
  public static final Context.Key<DeploymentKey> DEPLOYMENT = Context.key("elasticmoe-deployment");

  private static final String BEARER = "Bearer ";

  private final DeploymentCredentials credentials;

  @Inject
  public DeploymentAuthInterceptor(DeploymentCredentials credentials) {
    this.credentials = credentials;
  }

  @Override
  public <Q, A> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
    String authorization = headers.get(AUTHORIZATION);
    if (authorization == null) {
      return reject(call, Status.UNAUTHENTICATED.withDescription("authorization metadata is missing"));
    }
    if (!authorization.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      int space = authorization.indexOf(' ');
      String scheme = space < 0 ? "(none)" : authorization.substring(0, space);
      return reject(
          call,
          Status.UNAUTHENTICATED.withDescription(
              "authorization scheme " + scheme + " is not supported; use Bearer <token>"));
    }
    String token = authorization.substring(BEARER.length()).trim();
    if (token.isEmpty()) {
      return reject(call, Status.UNAUTHENTICATED.withDescription("the bearer token is empty"));
    }
    String named = headers.get(DEPLOYMENT_HEADER);
    if (named == null) {
      return reject(
          call,
          Status.UNAUTHENTICATED.withDescription(
              "x-elasticmoe-deployment metadata is missing; send <namespace>/<name>"));
    }
    DeploymentKey claimed;
    try {
      claimed = DeploymentKey.parse(named);
    } catch (IllegalArgumentException e) {
      return reject(call, Status.UNAUTHENTICATED.withDescription("x-elasticmoe-deployment " + e.getMessage()));
    }
    Optional<DeploymentKey> owner = credentials.ownerOf(sha256Hex(token));
    if (owner.isEmpty() && credentials.registering()) {
      return reject(
          call,
          Status.UNAVAILABLE.withDescription(
              "the rendezvous has just started and is still registering deployments; retry"));
    }
    if (owner.isEmpty()) {
      return reject(call, Status.UNAUTHENTICATED.withDescription("the credential is not known to the rendezvous"));
    }
    if (!owner.get().equals(claimed)) {
      return reject(
          call,
          Status.PERMISSION_DENIED.withDescription(
              "the credential does not belong to deployment " + claimed));
    }
    return Contexts.interceptCall(Context.current().withValue(DEPLOYMENT, claimed), call, headers, next);
  }

  /** Lower-case hex SHA-256, the form {@link DeploymentCredentials} is keyed by. */
  public static String sha256Hex(String token) {
    try {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      return HexFormat.of().formatHex(digest.digest(token.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }

  private static <Q, A> ServerCall.Listener<Q> reject(ServerCall<Q, A> call, Status status) {
    call.close(status, new Metadata());
    return new ServerCall.Listener<>() {};
  }

  /** The authenticated caller; only valid inside a call that passed this interceptor. */
  public static DeploymentKey caller() {
    DeploymentKey key = DEPLOYMENT.get();
    if (key == null) {
      throw new IllegalStateException("no authenticated deployment in this call's context");
    }
    return key;
  }
}
