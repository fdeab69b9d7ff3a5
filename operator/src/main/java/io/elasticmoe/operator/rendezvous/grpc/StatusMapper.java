package io.elasticmoe.operator.rendezvous.grpc;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import io.elasticmoe.operator.rendezvous.core.KeyValueClosedException;
import io.elasticmoe.operator.rendezvous.core.KeyValueCounterException;
import io.elasticmoe.operator.rendezvous.core.KeyValueLimitException;
import io.elasticmoe.operator.rendezvous.core.KeyValueMissingKeyException;
import io.elasticmoe.operator.rendezvous.core.KeyValueQuotaException;
import io.elasticmoe.operator.rendezvous.core.KeyValueTimeoutException;
import io.elasticmoe.operator.rendezvous.core.NotRankHolderException;
import io.elasticmoe.operator.rendezvous.core.PodUidInUseException;
import io.elasticmoe.operator.rendezvous.core.RankDrainingException;
import io.elasticmoe.operator.rendezvous.core.RankNotPlannedException;
import io.elasticmoe.operator.rendezvous.core.StaleEpochException;
import io.elasticmoe.operator.rendezvous.core.WorldFullException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.jboss.logging.Logger;

/**
 * The one place where domain exceptions become gRPC status codes (STYLE §6.6). Descriptions are the
 * exception messages, which name the offending value and the limit. Details are machine-readable: a
 * {@code BadRequest} field violation for bad input, an {@code ErrorInfo} with a reason (and the current
 * epoch for a stale one) otherwise.
 */
public final class StatusMapper {
  /** ErrorInfo.domain of every error we send. */
  public static final String DOMAIN = "rendezvous.elasticmoe.io";

  private static final Logger LOG = Logger.getLogger(StatusMapper.class);

  private StatusMapper() {}

  public static StatusRuntimeException toStatus(Throwable thrown) {
    Throwable t = unwrap(thrown);
    return switch (t) {
      case StatusRuntimeException already -> already;
      case InvalidRequestException e -> badRequest(e.field(), e.getMessage());
      case KeyValueLimitException e -> badRequest(e.field(), e.getMessage());
      case KeyValueQuotaException e ->
          info(Code.RESOURCE_EXHAUSTED, e.getMessage(), "StoreQuotaExceeded",
              Map.of("resource", e.resource(), "quota", Long.toString(e.quota())));
      case KeyValueTimeoutException e ->
          info(Code.DEADLINE_EXCEEDED, e.getMessage(), "StoreWaitTimedOut",
              Map.of("timeoutMillis", Long.toString(e.timeout().toMillis())));
      case KeyValueMissingKeyException e ->
          info(Code.NOT_FOUND, e.getMessage(), "StoreKeyMissing", Map.of("key", e.key()));
      case KeyValueCounterException e ->
          info(Code.FAILED_PRECONDITION, e.getMessage(), "StoreValueNotCounter", Map.of("key", e.key()));
      case KeyValueClosedException e ->
          info(Code.UNAVAILABLE, e.getMessage(), "DeploymentRemoved", Map.of());
      case StaleEpochException e ->
          info(Code.FAILED_PRECONDITION, e.getMessage(), "StaleEpoch",
              Map.of("epoch", Long.toString(e.epoch()), "currentEpoch", Long.toString(e.current())));
      case RankNotPlannedException e ->
          info(Code.FAILED_PRECONDITION, e.getMessage(), "RankNotPlanned", Map.of("rank", Integer.toString(e.rank())));
      case RankDrainingException e ->
          info(Code.FAILED_PRECONDITION, e.getMessage(), "RankDraining", Map.of("rank", Integer.toString(e.rank())));
      case NotRankHolderException e ->
          info(Code.FAILED_PRECONDITION, e.getMessage(), "NotRankHolder", Map.of("rank", Integer.toString(e.rank())));
      case PodUidInUseException e -> info(Code.FAILED_PRECONDITION, e.getMessage(), "PodHoldsAnotherRank", Map.of());
      case WorldFullException e ->
          info(Code.RESOURCE_EXHAUSTED, e.getMessage(), "WorldFull",
              Map.of("rank", Integer.toString(e.requested()), "maxRanks", Integer.toString(e.max())));
      case NoPlacementException e -> info(Code.NOT_FOUND, e.getMessage(), "NoPlacement", Map.of());
      case RendezvousUnavailableException e ->
          info(Code.UNAVAILABLE, e.getMessage(), "RendezvousUnavailable", Map.of());
      case CancellationException e -> Status.CANCELLED.withDescription("call cancelled").asRuntimeException();
      default -> {
        // Anything else is a broken invariant of ours, never the caller's input.
        LOG.errorf(t, "rendezvous internal error: %s", t.toString());
        yield Status.INTERNAL.withDescription("internal error: " + t).asRuntimeException();
      }
    };
  }

  private static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  private static StatusRuntimeException badRequest(String field, String description) {
    BadRequest details =
        BadRequest.newBuilder()
            .addFieldViolations(
                BadRequest.FieldViolation.newBuilder().setField(field).setDescription(description))
            .build();
    return StatusProto.toStatusRuntimeException(
        com.google.rpc.Status.newBuilder()
            .setCode(Code.INVALID_ARGUMENT_VALUE)
            .setMessage(description)
            .addDetails(Any.pack(details))
            .build());
  }

  private static StatusRuntimeException info(
      Code code, String description, String reason, Map<String, String> metadata) {
    ErrorInfo details =
        ErrorInfo.newBuilder().setReason(reason).setDomain(DOMAIN).putAllMetadata(metadata).build();
    return StatusProto.toStatusRuntimeException(
        com.google.rpc.Status.newBuilder()
            .setCode(code.getNumber())
            .setMessage(description)
            .addDetails(Any.pack(details))
            .build());
  }
}
