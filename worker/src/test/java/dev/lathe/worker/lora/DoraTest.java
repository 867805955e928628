package dev.lathe.worker.lora;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.Arrays2;
import dev.lathe.worker.TinyModel;
import dev.lathe.worker.engine.ForwardBackward;
import dev.lathe.worker.engine.ForwardBackward.Example;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.model.llama.LoraHook;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * DoRA in float64 on lathe-tiny: a fresh adapter is the base model, its per-row scale is what the
 * formed matrix's row norms give, and autograd's gradient of every kind of parameter (A, B and the
 * magnitude m) matches central finite differences, through the norm it divides by.
 */
class DoraTest {

  static final double H = 1e-5;

  static NDManager manager;
  static BaseModel base;

  @BeforeAll
  static void load() {
    manager = NDManager.newBaseManager();
    base = TinyModel.load(manager, DataType.FLOAT64);
  }

  @AfterAll
  static void close() {
    base.close();
    manager.close();
  }

  /** A DoRA adapter moved off its start: B random, m scaled by 1 ± 0.2 per row. */
  static LoraAdapter moved(long seed) {
    LoraAdapter a =
        LoraAdapter.create(
            base.llama(), LoraSpec.of(4, seed).withDora(true), manager, DataType.FLOAT64);
    for (LoraAdapter.Pair p : a.pairs().values()) {
      p.b().addi(manager.randomNormal(0, 0.05f, p.b().getShape(), DataType.FLOAT64));
      p.magnitude()
          .muli(manager.randomUniform(0.8f, 1.2f, p.magnitude().getShape(), DataType.FLOAT64));
    }
    return a;
  }

  @Test
  void aFreshDoraAdapterIsTheBaseModel() {
    try (LoraAdapter fresh =
            LoraAdapter.create(
                base.llama(), LoraSpec.of(8, 3).withDora(true), manager, DataType.FLOAT64);
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      NDArray tokens = manager.create(new long[][] {{5, 4, 3, 2, 1}});
      NDArray plain = base.llama().forward(tokens, null, LoraHook.NONE, null);
      NDArray adapted =
          base.llama()
              .forward(
                  tokens,
                  null,
                  LoraGather.forRows(List.of(fresh), DataType.FLOAT64, manager),
                  null);
      assertThat(Arrays2.maxAbsDiff(adapted, plain)).isLessThan(1e-12);
    }
  }

  @Test
  void theScaleIsTheMagnitudeOverTheFormedRowNorms() {
    try (LoraAdapter adapter = moved(9);
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      double s = adapter.spec().scaling();
      for (LoraAdapter.Pair p : adapter.pairs().values()) {
        NDArray w = base.llama().weights().weight(p.layer(), p.module()); // [out, in]
        double[] got = Arrays2.doubles(adapter.doraScale(p, w));
        // Independently: W + s·B·A formed element by element on the host, then its row norms.
        double[][] wm = matrix(w);
        double[][] a = matrix(p.a());
        double[][] b = matrix(p.b());
        double[] m = Arrays2.doubles(p.magnitude());
        for (int i = 0; i < wm.length; i++) {
          double squares = 0;
          for (int j = 0; j < wm[i].length; j++) {
            double v = wm[i][j];
            for (int k = 0; k < a.length; k++) {
              v += s * b[i][k] * a[k][j];
            }
            squares += v * v;
          }
          assertThat(got[i])
              .as("%s row %d", p.path(), i)
              .isCloseTo(m[i] / Math.sqrt(squares), within(got[i]));
        }
      }
    }
  }

  @Test
  void autogradMatchesFiniteDifferencesThroughTheNorm() {
    try (LoraAdapter adapter = moved(11);
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      Random rng = new Random(3);
      List<Example> examples = examples(rng);
      ForwardBackward.run(
          base.llama(), adapter, examples, LossFn.CROSS_ENTROPY, Map.of(), true, manager);
      int[] checked = new int[3]; // A, B, m
      List<LoraAdapter.Param> params = adapter.parameters();
      for (int i = 0; i < params.size(); i++) {
        if (rng.nextInt(4) != 0) {
          continue; // a sample of the tensors keeps the test fast
        }
        LoraAdapter.Param p = params.get(i);
        long[] shape = p.value().getShape().getShape();
        NDIndex at =
            shape.length == 1
                ? new NDIndex(rng.nextInt((int) shape[0]))
                : new NDIndex(rng.nextInt((int) shape[0]), rng.nextInt((int) shape[1]));
        double analytic = p.value().getGradient().get(at).getDouble();
        double original = p.value().get(at).getDouble();
        p.value().set(at, original + H);
        double plus = loss(adapter, examples);
        p.value().set(at, original - H);
        double minus = loss(adapter, examples);
        p.value().set(at, original);
        double numeric = (plus - minus) / (2 * H);
        assertThat(Math.abs(numeric - analytic))
            .as("%s%s: autograd %s, finite differences %s", p.name(), at, analytic, numeric)
            .isLessThan(1e-6 * Math.max(1, Math.abs(numeric)));
        checked[i % 3]++;
      }
      assertThat(java.util.Arrays.stream(checked).min().orElseThrow())
          .as("A, B and m checked")
          .isGreaterThan(3);
    }
  }

  private static double loss(LoraAdapter adapter, List<Example> examples) {
    return ForwardBackward.run(
            base.llama(), adapter, examples, LossFn.CROSS_ENTROPY, Map.of(), false, manager)
        .loss();
  }

  private static List<Example> examples(Random rng) {
    List<Example> out = new ArrayList<>();
    for (int n : new int[] {6, 4}) {
      int[] tokens = new int[n];
      double[] targets = new double[n];
      double[] weights = new double[n];
      for (int i = 0; i < n; i++) {
        tokens[i] = rng.nextInt(256);
        targets[i] = rng.nextInt(256);
        weights[i] = rng.nextDouble();
      }
      out.add(new Example(tokens, Map.of("target_tokens", targets, "weights", weights)));
    }
    return out;
  }

  private static double[][] matrix(NDArray x) {
    int rows = (int) x.getShape().get(0);
    int cols = (int) x.getShape().get(1);
    double[] flat = Arrays2.doubles(x);
    double[][] out = new double[rows][cols];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(flat, r * cols, out[r], 0, cols);
    }
    return out;
  }

  private static org.assertj.core.data.Offset<Double> within(double value) {
    return org.assertj.core.data.Offset.offset(1e-9 * Math.max(1, Math.abs(value)));
  }
}
