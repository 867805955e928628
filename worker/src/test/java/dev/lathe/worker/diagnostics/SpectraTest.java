package dev.lathe.worker.diagnostics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

/** Cases whose answers are known in closed form; test_adapter_diagnostics.py checks numpy's. */
class SpectraTest {

  @Test
  void effectiveRankIsTheExponentialOfTheSpectrumsEntropy() {
    assertThat(Spectra.effectiveRank(new double[] {3, 3, 3, 3})).isCloseTo(4, within(1e-12));
    assertThat(Spectra.effectiveRank(new double[] {2, 0, 0})).isCloseTo(1, within(1e-12));
    assertThat(Spectra.effectiveRank(new double[] {0, 0})).isZero();
    // p = (3/4, 1/4): exp(-(3/4 ln 3/4 + 1/4 ln 1/4))
    double h = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25));
    assertThat(Spectra.effectiveRank(new double[] {3, 1})).isCloseTo(Math.exp(h), within(1e-12));
  }

  /**
   * W = diag(5, 4, 3, 2, 1), whose singular vectors are the axes; ΔW = 100·b·a with a = b = 1/√5: a
   * rank-one update of norm 100 along the diagonal direction, which becomes W + ΔW's leading
   * singular vector — at |cosine| ≈ 1/√5 ≈ 0.45 from every axis, an intruder below 0.5, not below
   * 0.4.
   */
  @Test
  void aStrongUpdateAlongANewDirectionIsAnIntruder() {
    int n = 5;
    float[] w = new float[n * n];
    for (int i = 0; i < n; i++) {
      w[i * n + i] = n - i;
    }
    float[] a = new float[n];
    float[] b = new float[n];
    java.util.Arrays.fill(a, (float) (1 / Math.sqrt(n)));
    java.util.Arrays.fill(b, (float) (1 / Math.sqrt(n)));

    try (NDManager m = NDManager.newBaseManager()) {
      NDArray weight = m.create(w, new Shape(n, n));
      Spectra.Basis basis = Spectra.basis(weight);
      assertThat(basis.norm()).isCloseTo(Math.sqrt(25 + 16 + 9 + 4 + 1), within(1e-9));
      Spectra.Result r = Spectra.of(weight, basis, a, b, null, 1, 100, 1, 0.5);
      assertThat(r.deltaNorm()).isCloseTo(100, within(1e-4));
      assertThat(r.baseNorm()).isCloseTo(basis.norm(), within(0.0));
      assertThat(r.singularValues()).hasSize(1);
      assertThat(r.singularValues()[0]).isCloseTo(100, within(1e-4));
      assertThat(r.effectiveRank()).isCloseTo(1, within(1e-12));
      assertThat(r.intruders()).isEqualTo(1);
      assertThat(Spectra.of(weight, basis, a, b, null, 1, 100, 1, 0.4).intruders()).isZero();
      // Untouched (B = 0): nothing moved, every leading vector is a base one.
      Spectra.Result none = Spectra.of(weight, basis, a, new float[n], null, 1, 100, 5, 0.99);
      assertThat(none.deltaNorm()).isZero();
      assertThat(none.effectiveRank()).isZero();
      assertThat(none.intruders()).isZero();
    }
  }

  /**
   * The two ways to W''s leading left singular vectors agree: the subspace iteration (large
   * weights) and the decomposition of the Gram matrix (the rest), on noise [60, 40] with five
   * planted directions of singular values about 50 to 18, well above the noise's ~14.
   */
  @Test
  void subspaceIterationFindsTheDecompositionsLeadingVectors() {
    var rnd = new java.util.Random(11);
    int out = 60;
    int in = 40;
    double[] w = new double[out * in];
    for (int i = 0; i < w.length; i++) {
      w[i] = rnd.nextGaussian();
    }
    for (int p = 0; p < 5; p++) {
      double[] u = unit(rnd, out);
      double[] v = unit(rnd, in);
      for (int i = 0; i < out; i++) {
        for (int j = 0; j < in; j++) {
          w[i * in + j] += (50 - 8 * p) * u[i] * v[j];
        }
      }
    }
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray adapted = m.create(w, new Shape(out, in));
      int k = 4;
      var iterated = Spectra.leadingLeftVectors(adapted, k);
      var direct = Spectra.leading(Spectra.basis(adapted), k);
      for (int j = 0; j < k; j++) {
        double dot = 0;
        for (int i = 0; i < out; i++) {
          dot += iterated.get(i, j) * direct.get(i, j);
        }
        assertThat(Math.abs(dot)).as("vector %d", j).isCloseTo(1, within(1e-6));
      }
    }
  }

  private static double[] unit(java.util.Random rnd, int n) {
    double[] v = new double[n];
    double norm = 0;
    for (int i = 0; i < n; i++) {
      v[i] = rnd.nextGaussian();
      norm += v[i] * v[i];
    }
    for (int i = 0; i < n; i++) {
      v[i] /= Math.sqrt(norm);
    }
    return v;
  }

  @Test
  void theLowRankShortcutHasTheFormedProductsSingularValues() {
    var rnd = new java.util.Random(7);
    int out = 40;
    int in = 30;
    int r = 4;
    var b = org.ejml.dense.row.RandomMatrices_DDRM.rectangle(out, r, rnd);
    var a = org.ejml.dense.row.RandomMatrices_DDRM.rectangle(r, in, rnd);
    var product = new org.ejml.data.DMatrixRMaj(out, in);
    org.ejml.dense.row.CommonOps_DDRM.mult(2.5, b, a, product);
    var svd = org.ejml.dense.row.factory.DecompositionFactory_DDRM.svd(out, in, false, false, true);
    svd.decompose(product);
    double[] formed = svd.getSingularValues().clone();
    java.util.Arrays.sort(formed);
    double[] shortcut = Spectra.lowRankSingularValues(b, a, 2.5);
    assertThat(shortcut).hasSize(r);
    for (int i = 0; i < r; i++) {
      assertThat(shortcut[i]).isCloseTo(formed[formed.length - 1 - i], within(1e-9));
    }
  }
}
