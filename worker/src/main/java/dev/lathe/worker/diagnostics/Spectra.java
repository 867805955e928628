package dev.lathe.worker.diagnostics;

import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.NormOps_DDRM;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * Spectral measures of a LoRA update ΔW = s·B·A to a base weight W, all in double precision: the
 * norms, the singular values of ΔW and their effective rank, and the intruder dimensions of W + ΔW
 * (its leading left singular vectors that no singular vector of W resembles).
 */
final class Spectra {

  private Spectra() {}

  /** What one module's update did; singular values descending, as many as the rank. */
  record Result(
      double deltaNorm,
      double baseNorm,
      double[] singularValues,
      double effectiveRank,
      int intruders) {}

  /**
   * @param w the base weight [out, in], row-major
   * @param a the adapter's A [r, in]
   * @param b the adapter's B [out, r]
   */
  static Result of(
      float[] w,
      float[] a,
      float[] b,
      int out,
      int in,
      int r,
      double scaling,
      int topK,
      double threshold) {
    DMatrixRMaj base = matrix(w, out, in);
    DMatrixRMaj bm = matrix(b, out, r);
    DMatrixRMaj am = matrix(a, r, in);
    DMatrixRMaj delta = new DMatrixRMaj(out, in);
    CommonOps_DDRM.mult(bm, am, delta); // [out, in]
    CommonOps_DDRM.scale(scaling, delta);
    double[] top = lowRankSingularValues(bm, am, scaling);

    DMatrixRMaj adapted = new DMatrixRMaj(out, in);
    CommonOps_DDRM.add(base, delta, adapted);
    DMatrixRMaj u = leftSingularVectors(base); // [out, min(out, in)], by descending value
    DMatrixRMaj uAdapted = leftSingularVectors(adapted);
    int k = Math.min(topK, uAdapted.numCols);
    DMatrixRMaj leading = CommonOps_DDRM.extract(uAdapted, 0, out, 0, k); // [out, k]
    DMatrixRMaj cosines = new DMatrixRMaj(k, u.numCols);
    CommonOps_DDRM.multTransA(leading, u, cosines); // [k, min(out, in)]: unit vectors' cosines
    int intruders = 0;
    for (int j = 0; j < k; j++) {
      double best = 0;
      for (int i = 0; i < cosines.numCols; i++) {
        best = Math.max(best, Math.abs(cosines.get(j, i)));
      }
      if (best < threshold) {
        intruders++;
      }
    }
    return new Result(
        NormOps_DDRM.normF(delta), NormOps_DDRM.normF(base), top, effectiveRank(top), intruders);
  }

  /**
   * The r singular values of s·B·A without forming it: with B = Q_b·R_b and Aᵀ = Q_a·R_a (thin QR),
   * s·B·A = Q_b·(s·R_b·R_aᵀ)·Q_aᵀ, so they are those of the r×r middle factor.
   */
  static double[] lowRankSingularValues(DMatrixRMaj b, DMatrixRMaj a, double scaling) {
    int r = a.numRows;
    DMatrixRMaj rb = b.numRows < r ? null : thinR(b);
    DMatrixRMaj ra = a.numCols < r ? null : thinR(CommonOps_DDRM.transpose(a, null));
    if (rb == null || ra == null) {
      // Fewer rows than the rank, or a factor QR refuses (all zero: an untrained B): formed.
      DMatrixRMaj delta = new DMatrixRMaj(b.numRows, a.numCols);
      CommonOps_DDRM.mult(scaling, b, a, delta);
      return java.util.Arrays.copyOf(descending(singularValues(delta)), r);
    }
    DMatrixRMaj middle = new DMatrixRMaj(r, r);
    CommonOps_DDRM.multTransB(scaling, rb, ra, middle); // [r, r]
    return descending(singularValues(middle));
  }

  /** R of the thin QR decomposition, [cols, cols]; null where the decomposition refuses. */
  private static DMatrixRMaj thinR(DMatrixRMaj m) {
    var qr = DecompositionFactory_DDRM.qr(m.numRows, m.numCols);
    return qr.decompose(m.copy()) ? qr.getR(null, true) : null;
  }

  /**
   * exp of the Shannon entropy of σ/Σσ (Roy and Vetterli's effective rank); 0 when every σ is 0.
   */
  static double effectiveRank(double[] singularValues) {
    double sum = 0;
    for (double s : singularValues) {
      sum += s;
    }
    if (sum <= 0) {
      return 0;
    }
    double entropy = 0;
    for (double s : singularValues) {
      if (s > 0) {
        double p = s / sum;
        entropy -= p * Math.log(p);
      }
    }
    return Math.exp(entropy);
  }

  private static DMatrixRMaj matrix(float[] values, int rows, int cols) {
    if (values.length != rows * cols) {
      throw new IllegalArgumentException(
          "expected " + rows + "x" + cols + " values, got " + values.length);
    }
    DMatrixRMaj m = new DMatrixRMaj(rows, cols);
    for (int i = 0; i < values.length; i++) {
      m.data[i] = values[i];
    }
    return m;
  }

  private static double[] singularValues(DMatrixRMaj m) {
    SingularValueDecomposition_F64<DMatrixRMaj> svd =
        DecompositionFactory_DDRM.svd(m.numRows, m.numCols, false, false, true);
    if (!svd.decompose(m.copy())) {
      throw new IllegalStateException("singular value decomposition did not converge");
    }
    return java.util.Arrays.copyOf(svd.getSingularValues(), svd.numberOfSingularValues());
  }

  private static DMatrixRMaj leftSingularVectors(DMatrixRMaj m) {
    SingularValueDecomposition_F64<DMatrixRMaj> svd =
        DecompositionFactory_DDRM.svd(m.numRows, m.numCols, true, false, true);
    if (!svd.decompose(m.copy())) {
      throw new IllegalStateException("singular value decomposition did not converge");
    }
    DMatrixRMaj u = svd.getU(null, false);
    DMatrixRMaj w = svd.getW(null);
    SingularOps_DDRM.descendingOrder(u, false, w, null, false);
    return u;
  }

  private static double[] descending(double[] values) {
    double[] out = values.clone();
    java.util.Arrays.sort(out);
    for (int i = 0; i < out.length / 2; i++) {
      double t = out[i];
      out[i] = out[out.length - 1 - i];
      out[out.length - 1 - i] = t;
    }
    return out;
  }
}
