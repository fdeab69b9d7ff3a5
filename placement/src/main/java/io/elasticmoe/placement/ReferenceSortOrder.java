package io.elasticmoe.placement;

/**
 * The order in which DeepSeek's reference visits items in balanced packing: {@code x.sort(-1,
 * descending=True).indices} on PyTorch's CPU path, which is GCC libstdc++'s {@code std::sort}
 * (introsort) over (value, index) pairs compared by value only. It is not stable: for more than 16
 * items, equal values come out in an order set by the partitioning, and that order decides which
 * replica of a tied expert goes to which GPU. So this class replays libstdc++'s algorithm step for
 * step: median-of-three quicksort down to runs of 16, heapsort once the depth limit {@code 2 *
 * floor(log2 n)} is spent, then a final insertion sort. It was checked against PyTorch 1.13 (Debian
 * bookworm, GCC 12) on random tie-heavy rows and on inputs built to exhaust the depth limit; see
 * docs/placement.md.
 */
final class ReferenceSortOrder {

  /** libstdc++'s {@code _S_threshold}: shorter runs are left to the final insertion sort. */
  private static final int THRESHOLD = 16;

  private final float[] values;
  private final int[] order;

  private ReferenceSortOrder(float[] values) {
    this.values = values;
    this.order = new int[values.length];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
  }

  /**
   * Indices of {@code values} from the largest value to the smallest, ties as PyTorch orders them.
   */
  static int[] descending(float[] values) {
    ReferenceSortOrder sort = new ReferenceSortOrder(values);
    int n = values.length;
    if (n > 1) {
      sort.introsortLoop(0, n, 2 * (31 - Integer.numberOfLeadingZeros(n)));
      sort.finalInsertionSort(n);
    }
    return sort.order;
  }

  /** The comparator: item {@code a} goes before item {@code b}. */
  private boolean before(int a, int b) {
    return values[a] > values[b];
  }

  private void introsortLoop(int first, int last, int depthLimit) {
    while (last - first > THRESHOLD) {
      if (depthLimit == 0) {
        heapSort(first, last);
        return;
      }
      depthLimit--;
      int cut = partitionAroundMedian(first, last);
      introsortLoop(cut, last, depthLimit);
      last = cut;
    }
  }

  private int partitionAroundMedian(int first, int last) {
    int mid = first + (last - first) / 2;
    moveMedianToFirst(first, first + 1, mid, last - 1);
    int left = first + 1;
    int right = last;
    while (true) {
      while (before(order[left], order[first])) {
        left++;
      }
      right--;
      while (before(order[first], order[right])) {
        right--;
      }
      if (left >= right) {
        return left;
      }
      swap(left, right);
      left++;
    }
  }

  private void moveMedianToFirst(int result, int a, int b, int c) {
    int median;
    if (before(order[a], order[b])) {
      if (before(order[b], order[c])) {
        median = b;
      } else if (before(order[a], order[c])) {
        median = c;
      } else {
        median = a;
      }
    } else if (before(order[a], order[c])) {
      median = a;
    } else if (before(order[b], order[c])) {
      median = c;
    } else {
      median = b;
    }
    swap(result, median);
  }

  private void finalInsertionSort(int n) {
    if (n > THRESHOLD) {
      insertionSort(0, THRESHOLD);
      for (int i = THRESHOLD; i < n; i++) {
        unguardedLinearInsert(i);
      }
    } else {
      insertionSort(0, n);
    }
  }

  private void insertionSort(int first, int last) {
    for (int i = first + 1; i < last; i++) {
      int item = order[i];
      if (before(item, order[first])) {
        System.arraycopy(order, first, order, first + 1, i - first);
        order[first] = item;
      } else {
        unguardedLinearInsert(i);
      }
    }
  }

  private void unguardedLinearInsert(int last) {
    int item = order[last];
    int next = last - 1;
    while (before(item, order[next])) {
      order[last] = order[next];
      last = next;
      next--;
    }
    order[last] = item;
  }

  /** libstdc++'s {@code __partial_sort(first, last, last)}: make a heap, then pop it to the end. */
  private void heapSort(int first, int last) {
    int length = last - first;
    if (length >= 2) {
      for (int parent = (length - 2) / 2; parent >= 0; parent--) {
        adjustHeap(first, parent, length, order[first + parent]);
      }
    }
    while (last - first > 1) {
      last--;
      int item = order[last];
      order[last] = order[first];
      adjustHeap(first, 0, last - first, item);
    }
  }

  private void adjustHeap(int first, int hole, int length, int item) {
    int top = hole;
    int child = hole;
    while (child < (length - 1) / 2) {
      child = 2 * (child + 1);
      if (before(order[first + child], order[first + child - 1])) {
        child--;
      }
      order[first + hole] = order[first + child];
      hole = child;
    }
    if ((length & 1) == 0 && child == (length - 2) / 2) {
      child = 2 * (child + 1);
      order[first + hole] = order[first + child - 1];
      hole = child - 1;
    }
    int parent = (hole - 1) / 2;
    while (hole > top && before(order[first + parent], item)) {
      order[first + hole] = order[first + parent];
      hole = parent;
      parent = (hole - 1) / 2;
    }
    order[first + hole] = item;
  }

  private void swap(int i, int j) {
    int tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
}
