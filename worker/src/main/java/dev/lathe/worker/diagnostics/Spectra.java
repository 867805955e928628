package dev.lathe.worker.diagnostics;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.EigenDecomposition_F64;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * Spectral measures of a LoRA update ΔW = s·B·A to a base weight W [out, in], in float64: the
 * norms, the singular values of ΔW and their effective rank, and the intruder dimensions of W + ΔW
 * (its leading left singular vectors that no singular vector of W resembles).
 *
 * <p>A DoRA update makes W' = D·(W + s·B·A), D = diag(m / ‖W + s·B·A‖ per row): its norm is that of
 * the whole W' − W, magnitude included, its singular values those of its low-rank part D·s·B·A (r
 * of them: the direction's update as it reaches the output), and its intruders those of W'.
 *
 * <p>The large products run on the engine; EJML decomposes only what is small: the r×r middle
 * factor of ΔW, the Gram matrix of W on its smaller side (whose eigenvectors give all of W's left
 * singular vectors, kept per module in a {@link Basis}), and the few columns of a subspace
 * iteration that finds W + ΔW's leading ones.
 */
final class Spectra {

  private Spectra() {}

  /** Extra columns of the subspace iteration beyond the k wanted: they speed its convergence. */
  private static final int OVERSAMPLE = 16;

  private static final int MAX_ITERATIONS = 300;

  /**
   * Up to this smaller side, W' is decomposed like W ({@link #basis}: one l×l eigenproblem, ~10 ms
   * at 256): a subspace iteration needs up to {@link #MAX_ITERATIONS} rounds of engine products
   * when the leading singular values lie close together, as a random or little-trained weight's do.
   */
  private static final int DIRECT = 1024;

  private static final double TOLERANCE = 1e-11;

  /**
   * What one module's update did; singular values descending, as many as the rank. For DoRA, {@code
   * magnitudeChange} is ‖m − ‖W‖ per row‖ / ‖W‖_F, how far the magnitudes moved from their start
   * (else null).
   */
  record Result(
      double deltaNorm,
      double baseNorm,
      double[] singularValues,
      double effectiveRank,
      int intruders,
      Double magnitudeChange) {}

  /**
   * All left singular vectors of a base weight, [out, min(out, in)] row-major by descending value
   * (float: a worker keeps one per adapted module of its base), and ‖W‖_F.
   */
  record Basis(int rows, int cols, float[] u, double norm) {}

  /**
   * The base weight's {@link Basis}, from the eigenvectors of its Gram matrix on the smaller side.
   */
  static Basis basis(NDArray weight) {
    try (NDManager m = weight.getManager().newSubManager()) {
      NDArray w = weight.toType(DataType.FLOAT64, true); // [out, in]
      w.attach(m);
      int out = Math.toIntExact(w.getShape().get(0));
      int in = Math.toIntExact(w.getShape().get(1));
      boolean wide = out <= in;
      int n = Math.min(out, in);
      NDArray gram = wide ? w.matMul(w.transpose()) : w.transpose().matMul(w); // [n, n]
      DMatrixRMaj g = new DMatrixRMaj(n, n, true, gram.toDoubleArray());
      EigenDecomposition_F64<DMatrixRMaj> eig = DecompositionFactory_DDRM.eig(n, true, true);
      if (!eig.decompose(g)) {
        throw new IllegalStateException("eigendecomposition did not converge");
      }
      Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
      Arrays.sort(order, Comparator.comparingDouble(i -> -eig.getEigenvalue(i).getReal()));
      DMatrixRMaj vectors = new DMatrixRMaj(n, n); // [n, n], a vector a column
      for (int j = 0; j < n; j++) {
        DMatrixRMaj v = eig.getEigenVector(order[j]);
        for (int i = 0; i < n; i++) {
          vectors.set(i, j, v.get(i));
        }
      }
      double norm = Math.sqrt(Math.max(0, CommonOps_DDRM.trace(g)));
      if (wide) {
        return new Basis(out, n, floats(vectors.data), norm); // W·Wᵀ's eigenvectors: W's left ones
      }
      // Tall: W·v_i = σ_i·u_i for the right singular vectors v_i.
      NDArray u = w.matMul(m.create(vectors.data, new Shape(n, n))); // [out, n]
      NDArray lengths = u.norm(new int[] {0}, true); // [1, n] = σ_i
      NDArray unit = u.div(lengths.maximum(1e-300));
      return new Basis(out, n, unit.toType(DataType.FLOAT32, false).toFloatArray(), norm);
    }
  }

  /**
   * @param weight the base weight W [out, in]
   * @param basis its {@link #basis}
   * @param a the adapter's A [r, in]
   * @param b the adapter's B [out, r]
   * @param magnitude DoRA's m [out], or null for LoRA
   */
  static Result of(
      NDArray weight,
      Basis basis,
      float[] a,
      float[] b,
      float[] magnitude,
      int r,
      double scaling,
      int topK,
      double threshold) {
    int out = basis.rows();
    int in = Math.toIntExact(weight.getShape().get(1));
    int k = Math.min(topK, basis.cols());
    try (NDManager m = weight.getManager().newSubManager()) {
      NDArray w = weight.toType(DataType.FLOAT64, true); // [out, in]
      w.attach(m);
      NDArray bm = m.create(b, new Shape(out, r)).toType(DataType.FLOAT64, false);
      NDArray am = m.create(a, new Shape(r, in)).toType(DataType.FLOAT64, false);
      NDArray adapted = w.add(bm.matMul(am).mul(scaling)); // W' = W + s·B·A [out, in]
      DMatrixRMaj lowB = matrix(b, out, r);
      Double magnitudeChange = null;
      if (magnitude != null) {
        NDArray mag = m.create(magnitude, new Shape(out, 1)).toType(DataType.FLOAT64, false);
        NDArray d = mag.div(adapted.norm(new int[] {1}, true).maximum(1e-300)); // D [out, 1]
        adapted = adapted.mul(d);
        double[] rowScale = d.toDoubleArray();
        for (int i = 0; i < out; i++) {
          for (int j = 0; j < r; j++) {
            lowB.data[i * r + j] *= rowScale[i]; // D·B
          }
        }
        NDArray start = w.norm(new int[] {1}, true); // m at step 0, [out, 1]
        magnitudeChange = mag.sub(start).norm().getDouble() / Math.max(basis.norm(), 1e-300);
      }
      double[] sv = lowRankSingularValues(lowB, matrix(a, r, in), scaling); // r values
      double deltaNorm = // LoRA's from its r values, exactly; DoRA's whole change formed
          magnitude == null
              ? Math.sqrt(Arrays.stream(sv).map(x -> x * x).sum())
              : adapted.sub(w).norm().getDouble();
      DMatrixRMaj leading = // [out, k]
          basis.cols() <= DIRECT ? leading(basis(adapted), k) : leadingLeftVectors(adapted, k);
      int intruders = intruders(leading, basis, k, threshold);
      return new Result(deltaNorm, basis.norm(), sv, effectiveRank(sv), intruders, magnitudeChange);
    }
  }

  /** The first k vectors of a basis, [out, k]. */
  static DMatrixRMaj leading(Basis b, int k) {
    DMatrixRMaj out = new DMatrixRMaj(b.rows(), k);
    for (int i = 0; i < b.rows(); i++) {
      for (int j = 0; j < k; j++) {
        out.set(i, j, b.u()[i * b.cols() + j]);
      }
    }
    return out;
  }

  /** How many of the leading vectors [out, k] have no |cosine| ≥ threshold with the basis. */
  private static int intruders(DMatrixRMaj leading, Basis basis, int k, double threshold) {
    int out = basis.rows();
    int n = basis.cols();
    float[] u = basis.u(); // [out, n]
    double[][] cosines = new double[k][n]; // unit vectors' cosines: leadingᵀ·U
    for (int row = 0; row < out; row++) {
      for (int j = 0; j < k; j++) {
        double x = leading.get(row, j);
        double[] c = cosines[j];
        for (int i = 0, at = row * n; i < n; i++, at++) {
          c[i] += x * u[at];
        }
      }
    }
    int intruders = 0;
    for (double[] c : cosines) {
      double best = 0;
      for (double v : c) {
        best = Math.max(best, Math.abs(v));
      }
      if (best < threshold) {
        intruders++;
      }
    }
    return intruders;
  }

  /**
   * The k leading left singular vectors of the adapted weight W' [out, in] (float64), [out, k], by
   * subspace iteration on W'·W'ᵀ until its leading Ritz values settle, then Rayleigh–Ritz on the
   * few columns. Every product runs on the engine; the iterate is kept orthonormal by Cholesky QR
   * done twice (CholeskyQR2), whose only decomposition here is l×l.
   */
  static DMatrixRMaj leadingLeftVectors(NDArray adapted, int k) {
    try (NDManager m = adapted.getManager().newSubManager()) {
      int out = Math.toIntExact(adapted.getShape().get(0));
      int in = Math.toIntExact(adapted.getShape().get(1));
      NDArray adaptedT = adapted.transpose(); // [in, out]
      int l = Math.min(Math.min(out, in), k + OVERSAMPLE);
      double[] start = new double[l * in];
      Random rnd = new Random(0x1a7e);
      for (int i = 0; i < start.length; i++) {
        start[i] = rnd.nextGaussian();
      }
      NDArray qT = orthonormalRows(m.create(start, new Shape(l, in)).matMul(adaptedT)); // [l, out]
      double[] previous = new double[k];
      for (int it = 0; it < MAX_ITERATIONS; it++) {
        double[] ritz;
        NDArray next;
        try (NDScope scope = new NDScope()) { // each step's intermediates go with it
          NDArray yT = qT.matMul(adapted).matMul(adaptedT); // [l, out] = (W'·W'ᵀ·Q)ᵀ
          ritz = descending(qT.mul(yT).sum(new int[] {1}).toDoubleArray());
          next = orthonormalRows(yT);
          NDScope.unregister(next);
        }
        qT.close();
        qT = next;
        boolean settled = true;
        for (int j = 0; j < k; j++) {
          settled &= Math.abs(ritz[j] - previous[j]) <= TOLERANCE * Math.abs(ritz[0]);
        }
        previous = ritz;
        if (settled) {
          break;
        }
      }
      DMatrixRMaj t = new DMatrixRMaj(l, in, true, qT.matMul(adapted).toDoubleArray()); // Qᵀ·W'
      SingularValueDecomposition_F64<DMatrixRMaj> svd =
          DecompositionFactory_DDRM.svd(l, in, true, false, true);
      if (!svd.decompose(t)) {
        throw new IllegalStateException("singular value decomposition did not converge");
      }
      DMatrixRMaj small = svd.getU(null, false); // [l, l]
      DMatrixRMaj values = svd.getW(null);
      SingularOps_DDRM.descendingOrder(small, false, values, null, false);
      DMatrixRMaj q = new DMatrixRMaj(l, out, true, qT.toDoubleArray());
      DMatrixRMaj leading = new DMatrixRMaj(out, k);
      CommonOps_DDRM.multTransA(q, CommonOps_DDRM.extract(small, 0, l, 0, k), leading);
      return leading;
    }
  }

  /** The rows of {@code yT} [l, n] made orthonormal, spanning the same space (CholeskyQR2). */
  private static NDArray orthonormalRows(NDArray yT) {
    NDArray once = choleskyStep(yT);
    NDArray twice = choleskyStep(once);
    once.close();
    return twice;
  }

  /** With Y·Yᵀ = L·Lᵀ (l×l, here), L⁻¹·Y has orthonormal rows up to rounding. */
  private static NDArray choleskyStep(NDArray yT) {
    int l = Math.toIntExact(yT.getShape().get(0));
    DMatrixRMaj gram = new DMatrixRMaj(l, l, true, yT.matMul(yT.transpose()).toDoubleArray());
    var chol = DecompositionFactory_DDRM.chol(l, true);
    if (!chol.decompose(gram)) {
      throw new IllegalStateException("the iterate lost rank (Cholesky failed)");
    }
    DMatrixRMaj inverse = new DMatrixRMaj(l, l);
    CommonOps_DDRM.invert(chol.getT(null), inverse); // L⁻¹
    return yT.getManager().create(inverse.data, new Shape(l, l)).matMul(yT);
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

  private static float[] floats(double[] values) {
    float[] out = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = (float) values[i];
    }
    return out;
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
