package io.elasticmoe.worker.runtime;

import io.elasticmoe.worker.store.StoreTimeoutException;
import java.util.List;

/**
 * The EP buffer API both backends implement, modelled on NIXL-EP's {@code Buffer} in low-latency mode
 * (DESIGN §6). The buffer is allocated once for {@code maxRanks}; ranks join and leave with
 * {@link #connect}/{@link #disconnect} without a new communicator.
 *
 * <p>Every rank of a step calls dispatch and combine in the same order with the same {@code numExperts}
 * (so the same R_b): the buffer index flips on every call, and each call clears the next buffer's
 * signals before it emits its own. A rank is live when it is connected and not masked; tokens for experts
 * of a rank that is not live are dropped, and their combine terms are left out without renormalising.
 */
public interface DispatchBackend extends AutoCloseable {

  DispatchLayout layout();

  int rank();

  /**
   * Connects {@code ranks} for step {@code epoch}: publishes this rank's transport metadata under
   * {@code NIXL_EP/{rank}}, reads the peers' keys, opens endpoints, meets every rank of {@code world} at a
   * store barrier and deletes its own key. Every rank in {@code world} must call it for the same epoch.
   * With {@code activate} the connected ranks are unmasked at once; without, they stay masked until
   * {@link #updateMask}.
   */
  void connect(long epoch, int[] ranks, int[] world, boolean activate) throws StoreTimeoutException;

  /** Closes the endpoints of {@code ranks}; they stop being live. Their masks are cleared. */
  void disconnect(int[] ranks);

  void updateMask(int rank, boolean masked);

  /** {@code mask[maxRanks]}, 1 = masked. */
  int[] queryMask();

  void cleanMask();

  /**
   * After this rank's last step in world {@code worldId}, before it disconnects anyone or connects the
   * next world: waits, bounded by the data-plane timeout, until every peer it sees live has finished its
   * last step too, so that no rank closes an endpoint a peer is still completing its last puts on. A
   * backend whose transfers complete without the target's help has nothing to wait for.
   */
  default void finishWorld(String worldId) {}

  /**
   * Sends every token of {@code x[numTokens, H]} (bf16 bits) to the owners of its selected experts
   * ({@code topkIdx[numTokens, numTopk]}, −1 = none) and receives this rank's experts' tokens. The
   * result's rows may be views into the backend's buffer, valid until this rank's next dispatch or combine
   * call ({@link ReceivedRows}).
   */
  DispatchResult dispatch(
      short[] x, int numTokens, int[] topkIdx, int numTopk, int numExperts, boolean useFp8,
      boolean roundScale);

  /**
   * Returns the expert outputs {@code y[E_l, R_b·N, H]} (bf16 bits) to the ranks the tokens came from and
   * reduces this rank's tokens: {@code out[t] = Σ_k w[t,k]·y_k[t]} over live selections, as bf16.
   */
  short[] combine(short[] y, int[] topkIdx, float[] topkWeights, DispatchHandle handle);

  /** Timeouts seen since the last call, each of which masked its rank; the caller reports them. */
  List<PeerTimeoutException> takePeerTimeouts();

  @Override
  void close();
}
