package io.elasticmoe.worker.runtime;

/**
 * A peer that stayed silent past the data-plane timeout. The backend does not throw it from dispatch or
 * combine: it masks the rank (a sticky latch) and queues this record, which the host drains and reports
 * to the rendezvous ({@code ReportPeerFailure}).
 */
public final class PeerTimeoutException extends RuntimeException {

  private final int rank;
  private final long epoch;
  private final long waitedMillis;

  public PeerTimeoutException(int rank, long epoch, long waitedMillis) {
    super("rank " + rank + " sent nothing for " + waitedMillis + " ms in epoch " + epoch
        + "; it is masked until disconnected or unmasked");
    this.rank = rank;
    this.epoch = epoch;
    this.waitedMillis = waitedMillis;
  }

  public int rank() {
    return rank;
  }

  public long epoch() {
    return epoch;
  }

  public long waitedMillis() {
    return waitedMillis;
  }
}
