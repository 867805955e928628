package dev.lathe.worker.optim;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.model.llama.Module;
import dev.lathe.worker.model.tiny.LatheTiny;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** AdamW on adapter tensors against a plain-Java reference of the same update rule. */
class AdamWTest {

  @Test
  void matchesTheReferenceWithClippingDecayAndLoraPlus() {
    LoraSpec spec = new LoraSpec(2, 32, 3, EnumSet.of(Module.Q_PROJ), false, 4.0, false);
    AdamW.Params params = new AdamW.Params(1e-2, 0.9, 0.95, 1e-8, 0.1, 0.5);
    try (NDManager m = NDManager.newBaseManager();
        LoraAdapter adapter =
            LoraAdapter.create(LatheTiny.Size.TINY.config(), spec, m, DataType.FLOAT64)) {
      List<LoraAdapter.Param> ps = adapter.parameters();
      int n = ps.size();
      double[][] value = new double[n][];
      double[][] mom1 = new double[n][];
      double[][] mom2 = new double[n][];
      for (int i = 0; i < n; i++) {
        value[i] = ps.get(i).value().toDoubleArray();
        mom1[i] = new double[value[i].length];
        mom2[i] = new double[value[i].length];
      }
      Random rng = new Random(9);
      for (int step = 1; step <= 3; step++) {
        double[][] grad = new double[n][];
        for (int i = 0; i < n; i++) {
          grad[i] = new double[value[i].length];
          for (int j = 0; j < grad[i].length; j++) {
            grad[i][j] = rng.nextGaussian() * 0.3;
          }
        }
        setGradients(m, adapter, grad);
        AdamW.Result result = AdamW.step(adapter, params);

        double norm = 0;
        for (double[] g : grad) {
          for (double v : g) {
            norm += v * v;
          }
        }
        norm = Math.sqrt(norm);
        double clip = norm > params.gradClipNorm() ? params.gradClipNorm() / norm : 1;
        for (int i = 0; i < n; i++) {
          double lr = params.learningRate() * (ps.get(i).isB() ? 4.0 : 1.0);
          for (int j = 0; j < value[i].length; j++) {
            double g = grad[i][j] * clip;
            mom1[i][j] = 0.9 * mom1[i][j] + 0.1 * g;
            mom2[i][j] = 0.95 * mom2[i][j] + 0.05 * g * g;
            double mhat = mom1[i][j] / (1 - Math.pow(0.9, step));
            double vhat = mom2[i][j] / (1 - Math.pow(0.95, step));
            value[i][j] = value[i][j] * (1 - lr * 0.1) - lr * mhat / (Math.sqrt(vhat) + 1e-8);
          }
          assertThat(ps.get(i).value().toDoubleArray())
              .as("step %d %s", step, ps.get(i).name())
              .containsExactly(value[i], org.assertj.core.data.Offset.offset(1e-12));
          assertThat(adapter.gradient(ps.get(i)).abs().max().getDouble()).isZero();
        }
        assertThat(result.gradNorm()).isCloseTo(norm, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(result.step()).isEqualTo(step);
      }
    }
  }

  /** Replaces the parameters' gradients by g, one array each in parameter order. */
  private static void setGradients(NDManager m, LoraAdapter adapter, double[][] g) {
    adapter.zeroGradients();
    java.util.Map<String, NDArray> grads = new java.util.HashMap<>();
    List<LoraAdapter.Param> ps = adapter.parameters();
    for (int i = 0; i < ps.size(); i++) {
      grads.put(ps.get(i).name(), m.create(g[i], ps.get(i).value().getShape()));
    }
    adapter.addGradients(grads);
    grads.values().forEach(NDArray::close);
  }
}
