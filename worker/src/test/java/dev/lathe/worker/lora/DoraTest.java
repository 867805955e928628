package dev.lathe.worker.lora;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.Arrays2;
import dev.lathe.worker.WithTinyModel;
import dev.lathe.worker.model.llama.LoraHook;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * DoRA on lathe-tiny: a fresh adapter is the base model, and its per-row scale, from the expanded
 * norm, is what the formed matrix's row norms give. (GradientCheckTest checks its gradients by
 * finite differences, FusedBatchTest and LoraGatherTest its rows beside LoRA adapters'.)
 */
class DoraTest extends WithTinyModel {

  /** A DoRA adapter moved off its start: B random, m scaled by 1 ± 0.2 per row. */
  static LoraAdapter moved(long seed) {
    LoraAdapter a =
        LoraAdapter.create(
            base.llama(), LoraSpec.of(4, seed).withDora(true), manager, DataType.FLOAT32);
    for (LoraAdapter.Pair p : a.pairs().values()) {
      p.b().addi(manager.randomNormal(0, 0.05f, p.b().getShape(), DataType.FLOAT32));
      p.magnitude()
          .muli(manager.randomUniform(0.8f, 1.2f, p.magnitude().getShape(), DataType.FLOAT32));
    }
    return a;
  }

  @Test
  void aFreshDoraAdapterIsTheBaseModel() {
    try (LoraAdapter fresh =
            LoraAdapter.create(
                base.llama(), LoraSpec.of(8, 3).withDora(true), manager, DataType.FLOAT32);
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      NDArray tokens = manager.create(new long[][] {{5, 4, 3, 2, 1}});
      NDArray plain = base.llama().forward(tokens, null, LoraHook.NONE, null);
      // Its own hook (a training step's) and the gathered one (a decode batch's).
      for (LoraHook hook :
          List.of(
              LoraGather.forRows(List.of(fresh), DataType.FLOAT32, manager),
              LoraGather.forDecoding(List.of(fresh), DataType.FLOAT32, manager))) {
        NDArray adapted = base.llama().forward(tokens, null, hook, null);
        assertThat(Arrays2.maxAbsDiff(adapted, plain))
            .as(hook.getClass().getName())
            .isLessThan(1e-6);
      }
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
    return org.assertj.core.data.Offset.offset(1e-5 * Math.max(1, Math.abs(value)));
  }
}
