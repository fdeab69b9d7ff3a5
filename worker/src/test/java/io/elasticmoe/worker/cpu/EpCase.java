package io.elasticmoe.worker.cpu;

import io.elasticmoe.worker.runtime.Bf16;
import io.elasticmoe.worker.runtime.DispatchBackend;
import io.elasticmoe.worker.runtime.DispatchHandle;
import io.elasticmoe.worker.runtime.DispatchResult;
import io.elasticmoe.worker.runtime.Fp8Codec;
import java.util.Arrays;
import java.util.Random;

/**
 * One dispatch+combine check in the style of NIXL-EP's elastic test: every rank regenerates every other
 * rank's inputs from (seed, rank), so it can recount what it must receive. Structured inputs carry their
 * origin (value = rank − 128, last 128 columns = token index); random ones check the fp8 cast bit for bit.
 */
record EpCase(
    int seed, boolean structured, boolean useFp8, boolean roundScale, int numTokens, int hidden, int numTopk,
    int numExperts) {

  static final int RANK_OFFSET = 128;

  static EpCase[] all(int seed, int numTokens, int hidden, int numTopk, int numExperts) {
    return new EpCase[] {
      new EpCase(seed, true, false, false, numTokens, hidden, numTopk, numExperts),
      new EpCase(seed, true, true, false, numTokens, hidden, numTopk, numExperts),
      new EpCase(seed, true, true, true, numTokens, hidden, numTopk, numExperts),
      new EpCase(seed + 1, false, false, false, numTokens, hidden, numTopk, numExperts),
      new EpCase(seed + 1, false, true, false, numTokens, hidden, numTopk, numExperts),
    };
  }

  short[] x(int rank) {
    short[] x = new short[numTokens * hidden];
    Random random = new Random(seed * 1_000_003L + rank);
    for (int t = 0; t < numTokens; t++) {
      for (int c = 0; c < hidden; c++) {
        float value;
        if (structured) {
          value = c >= hidden - 128 ? t : rank - RANK_OFFSET;
        } else {
          value = (float) random.nextGaussian() * 0.5f;
        }
        x[t * hidden + c] = Bf16.fromFloat(value);
      }
    }
    return x;
  }

  /** Top-k of seeded scores, distinct experts, with a few −1 holes. */
  int[] topkIdx(int rank) {
    Random random = new Random(seed * 7_000_003L + 1000 + rank);
    int[] topk = new int[numTokens * numTopk];
    for (int t = 0; t < numTokens; t++) {
      Integer[] order = new Integer[numExperts];
      double[] scores = new double[numExperts];
      for (int e = 0; e < numExperts; e++) {
        order[e] = e;
        scores[e] = Math.abs(random.nextGaussian()) + 1;
      }
      Arrays.sort(order, (a, b) -> Double.compare(scores[b], scores[a]));
      for (int k = 0; k < numTopk; k++) {
        topk[t * numTopk + k] = order[k];
      }
    }
    for (int i = 0; i < Math.max(1, numTokens / 4); i++) {
      topk[random.nextInt(numTokens) * numTopk + random.nextInt(numTopk)] = -1;
    }
    return topk;
  }

  float[] topkWeights(int rank) {
    Random random = new Random(seed * 31L + 77 + rank);
    float[] weights = new float[numTokens * numTopk];
    for (int i = 0; i < weights.length; i++) {
      weights[i] = (float) Math.abs(random.nextGaussian());
    }
    return weights;
  }

  DispatchResult dispatch(DispatchBackend backend) {
    return backend.dispatch(
        x(backend.rank()), numTokens, topkIdx(backend.rank()), numTopk, numExperts, useFp8, roundScale);
  }

  /** A row as the expert sees it: bf16 of the dequantised fp8 row, or the bf16 row itself. */
  private short[] receivedRowAsBf16(DispatchResult result, int row) {
    short[] out = new short[hidden];
    float[] values = new float[hidden];
    result.rows().toFloat(row, values, 0);
    for (int c = 0; c < hidden; c++) {
      out[c] = Bf16.fromFloat(values[c]);
    }
    return out;
  }

  /**
   * Checks every output field of a dispatch against the inputs of all ranks in {@code world} that are
   * unmasked per {@code mask}; returns the simulated expert output y (identity experts).
   */
  short[] checkDispatch(int rank, int[] world, int[] mask, DispatchResult result, int numLocalExperts, int maxTokens) {
    DispatchHandle handle = result.handle();
    int numRanks = numExperts / numLocalExperts;
    int rowsPerExpert = numRanks * maxTokens;
    boolean[] live = new boolean[numRanks];
    for (int r : world) {
      live[r] = mask[r] == 0;
    }
    int[][] topkOf = new int[numRanks][];
    short[][] xOf = new short[numRanks][];
    for (int r = 0; r < numRanks; r++) {
      if (live[r]) {
        topkOf[r] = topkIdx(r);
        xOf[r] = x(r);
      }
    }
    short[] y = new short[numLocalExperts * rowsPerExpert * hidden];
    for (int localExpert = 0; localExpert < numLocalExperts; localExpert++) {
      int expert = rank * numLocalExperts + localExpert;
      int expected = 0;
      int begin = 0;
      for (int src = 0; src < numRanks; src++) {
        int fromSrc = 0;
        if (live[src]) {
          for (int e : topkOf[src]) {
            fromSrc += e == expert ? 1 : 0;
          }
        }
        expected += fromSrc;
        require(handle.count(localExpert, src) == fromSrc,
            "rank %d expert %d: layout count from rank %d is %d, expected %d", rank, expert, src,
            handle.count(localExpert, src), fromSrc);
        require(handle.begin(localExpert, src) == begin,
            "rank %d expert %d: layout begin of rank %d is %d, expected %d", rank, expert, src,
            handle.begin(localExpert, src), begin);
        for (int i = 0; i < fromSrc; i++) {
          int row = localExpert * rowsPerExpert + begin + i;
          checkRow(rank, expert, src, row, result, xOf[src], topkOf[src], handle.srcInfo()[row]);
          System.arraycopy(receivedRowAsBf16(result, row), 0, y, row * hidden, hidden);
        }
        begin += fromSrc;
      }
      require(result.recvCount()[localExpert] == expected,
          "rank %d expert %d: recv count %d, expected %d from unmasked ranks", rank, expert,
          result.recvCount()[localExpert], expected);
    }
    return y;
  }

  private void checkRow(int rank, int expert, int src, int row, DispatchResult result, short[] srcX, int[] srcTopk, int token) {
    require(token >= 0 && token < numTokens, "rank %d expert %d: src_info %d out of 0..%d", rank, expert, token, numTokens - 1);
    boolean selected = false;
    for (int k = 0; k < numTopk; k++) {
      selected |= srcTopk[token * numTopk + k] == expert;
    }
    require(selected, "rank %d: row from rank %d token %d did not select expert %d", rank, src, token, expert);
    if (result.isFp8()) {
      byte[] codes = new byte[hidden];
      float[] scales = new float[hidden / 128];
      Fp8Codec.castRow(srcX, token * hidden, hidden, roundScale, codes, 0, scales, 0);
      byte[] gotCodes = new byte[hidden];
      float[] gotScales = new float[hidden / 128];
      result.rows().fp8Codes(row, gotCodes, 0);
      result.rows().scales(row, gotScales, 0);
      require(Arrays.equals(codes, gotCodes),
          "rank %d expert %d: fp8 row from rank %d token %d differs from the sender's cast", rank, expert, src, token);
      require(Arrays.equals(scales, gotScales),
          "rank %d expert %d: fp8 scales from rank %d token %d differ", rank, expert, src, token);
    } else {
      short[] got = new short[hidden];
      result.rows().bf16(row, got, 0);
      require(Arrays.equals(Arrays.copyOfRange(srcX, token * hidden, (token + 1) * hidden), got),
          "rank %d expert %d: bf16 row from rank %d token %d differs", rank, expert, src, token);
    }
    if (structured) {
      short[] asSeen = receivedRowAsBf16(result, row);
      for (int c = 0; c < hidden; c++) {
        float expected = c >= hidden - 128 ? token : src - RANK_OFFSET;
        float got = Bf16.toFloat(asSeen[c]);
        float tolerance = result.isFp8() ? Math.abs(expected) * 0x1p-4f + 1e-6f : 0f;
        require(Math.abs(got - expected) <= tolerance,
            "rank %d expert %d: row from rank %d token %d column %d is %s, expected %s", rank, expert, src, token, c, got, expected);
      }
    }
  }

  /** Checks combine against Σ over live selections of w·(expert row), with NIXL-EP's calc_diff bounds. */
  void checkCombine(int rank, int[] world, int[] mask, short[] combined, int numLocalExperts) {
    int numRanks = numExperts / numLocalExperts;
    boolean[] live = new boolean[numRanks];
    for (int r : world) {
      live[r] = mask[r] == 0;
    }
    short[] x = x(rank);
    int[] topk = topkIdx(rank);
    float[] weights = topkWeights(rank);
    double dot = 0;
    double norms = 0;
    for (int t = 0; t < numTokens; t++) {
      float weightSum = 0;
      for (int k = 0; k < numTopk; k++) {
        int e = topk[t * numTopk + k];
        if (e >= 0 && live[e / numLocalExperts]) {
          weightSum += weights[t * numTopk + k];
        }
      }
      for (int c = 0; c < hidden; c++) {
        float got = Bf16.toFloat(combined[t * hidden + c]);
        require(!Float.isNaN(got), "rank %d: combined token %d column %d is NaN", rank, t, c);
        double reference = (double) Bf16.toFloat(x[t * hidden + c]) * weightSum;
        dot += got * reference;
        norms += got * (double) got + reference * reference;
      }
    }
    double diff = norms == 0 ? 0 : 1 - 2 * dot / norms;
    double bound = useFp8 ? 9e-4 : 1e-5;
    require(diff < bound, "rank %d: combine calc_diff %.3g is not below %.0g (%s)", rank, diff, bound, this);
  }

  static void require(boolean condition, String format, Object... args) {
    if (!condition) {
      throw new AssertionError(String.format(format, args));
    }
  }
}
