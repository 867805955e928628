package dev.lathe.worker;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/** Comparisons of arrays in tests. */
public final class Arrays2 {

  private Arrays2() {}

  public static double[] doubles(NDArray a) {
    return a.toType(DataType.FLOAT64, false).toDoubleArray();
  }

  public static double maxAbsDiff(double[] a, double[] b) {
    if (a.length != b.length) {
      throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
    }
    double max = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return max;
  }

  public static double maxAbsDiff(NDArray a, NDArray b) {
    return maxAbsDiff(doubles(a), doubles(b));
  }

  public static double maxAbs(double[] a) {
    double max = 0;
    for (double v : a) {
      max = Math.max(max, Math.abs(v));
    }
    return max;
  }
}
