package dev.lathe.worker.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.WithTinyModel;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.model.llama.Module;
import dev.lathe.worker.model.tiny.LatheTiny;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** AdamW on adapter tensors against a plain-Java reference of the same update rule. */
class AdamWTest extends WithTinyModel {

  @Test
  void matchesTheReferenceWithClippingDecayAndLoraPlus() {
    LoraSpec spec = new LoraSpec(2, 32, 3, EnumSet.of(Module.Q_PROJ), false, 4.0, false);
    AdamW.Params params = new AdamW.Params(1e-2, 0.9, 0.95, 1e-8, 0.1, 0.5);
    try (NDManager m = NDManager.newBaseManager();
        LoraAdapter adapter =
            LoraAdapter.create(LatheTiny.Size.TINY.config(), spec, m, DataType.FLOAT64)) {
      Reference ref = new Reference(adapter, params);
      Random rng = new Random(9);
      for (int step = 1; step <= 3; step++) {
        double[][] grad = ref.gradients(m, rng);
        AdamW.Result result = AdamW.step(adapter, params);
        ref.step(grad, result);
      }
    }
  }

  /**
   * Adapters stepped together, each with its own learning rate, clipping, decay, LoRA+ ratio, kind
   * and step count, end where each stepped alone by the reference does: one adapter's
   * hyper-parameters never leak into another's in the fused update, whose tensors are grouped by
   * hyper-parameters across adapters.
   */
  @Test
  void adaptersSteppedTogetherEachMatchTheirOwnReference() {
    EnumSet<Module> qv = EnumSet.of(Module.Q_PROJ, Module.V_PROJ);
    List<LoraSpec> specs =
        List.of(
            new LoraSpec(2, 32, 3, qv, false, 4.0, false), // LoRA+, B ranges apart
            new LoraSpec(4, 16, 4, qv, false, 1.0, false),
            new LoraSpec(2, 8, 5, EnumSet.of(Module.O_PROJ), false, 1.0, true), // DoRA
            new LoraSpec(2, 32, 6, qv, false, 1.0, false)); // the first's rate: one group
    List<AdamW.Params> params =
        List.of(
            new AdamW.Params(1e-2, 0.9, 0.95, 1e-8, 0.1, 0.5),
            new AdamW.Params(3e-3, 0.8, 0.99, 1e-6, 0.0, 0.0),
            new AdamW.Params(5e-3, 0.9, 0.999, 1e-8, 0.01, 100.0), // clipping that never bites
            new AdamW.Params(1e-2, 0.9, 0.95, 1e-8, 0.1, 0.5));
    try (NDManager m = NDManager.newBaseManager()) {
      List<LoraAdapter> adapters = new ArrayList<>();
      List<Reference> refs = new ArrayList<>();
      for (LoraSpec s : specs) {
        adapters.add(LoraAdapter.create(base.llama(), s, m, DataType.FLOAT64));
        refs.add(new Reference(adapters.getLast(), params.get(refs.size())));
      }
      Random rng = new Random(11);
      for (int round = 0; round < 3; round++) {
        // The second adapter skips the first round: steps differ within a group after it.
        List<Integer> stepping = round == 0 ? List.of(0, 2, 3) : List.of(0, 1, 2, 3);
        List<double[][]> grads = new ArrayList<>();
        for (int i : stepping) {
          grads.add(refs.get(i).gradients(m, rng));
        }
        List<AdamW.Result> results =
            AdamW.step(
                stepping.stream().map(adapters::get).toList(),
                stepping.stream().map(params::get).toList());
        for (int k = 0; k < stepping.size(); k++) {
          refs.get(stepping.get(k)).step(grads.get(k), results.get(k));
        }
      }
      assertThat(adapters.stream().map(LoraAdapter::step)).containsExactly(3, 2, 3, 3);
      adapters.forEach(LoraAdapter::close);
    }
  }

  /** The update rule in plain Java, in float64, on a copy of one adapter's parameters. */
  private static final class Reference {
    final LoraAdapter adapter;
    final AdamW.Params p;
    final List<LoraAdapter.Param> ps;
    final double[][] value;
    final double[][] mom1;
    final double[][] mom2;
    int step;

    Reference(LoraAdapter adapter, AdamW.Params p) {
      this.adapter = adapter;
      this.p = p;
      this.ps = adapter.parameters();
      int n = ps.size();
      value = new double[n][];
      mom1 = new double[n][];
      mom2 = new double[n][];
      for (int i = 0; i < n; i++) {
        value[i] = ps.get(i).value().toDoubleArray();
        mom1[i] = new double[value[i].length];
        mom2[i] = new double[value[i].length];
      }
    }

    /** Random gradients, set as the adapter's accumulated ones. */
    double[][] gradients(NDManager m, Random rng) {
      double[][] grad = new double[ps.size()][];
      for (int i = 0; i < grad.length; i++) {
        grad[i] = new double[value[i].length];
        for (int j = 0; j < grad[i].length; j++) {
          grad[i][j] = rng.nextGaussian() * 0.3;
        }
      }
      adapter.zeroGradients();
      Map<String, NDArray> arrays = new HashMap<>();
      for (int i = 0; i < ps.size(); i++) {
        arrays.put(ps.get(i).name(), m.create(grad[i], ps.get(i).value().getShape()));
      }
      adapter.addGradients(arrays);
      arrays.values().forEach(NDArray::close);
      return grad;
    }

    /** Steps the reference with {@code grad} and checks the adapter's step against it. */
    void step(double[][] grad, AdamW.Result result) {
      step++;
      double norm = 0;
      for (double[] g : grad) {
        for (double v : g) {
          norm += v * v;
        }
      }
      norm = Math.sqrt(norm);
      double clip = p.gradClipNorm() > 0 && norm > p.gradClipNorm() ? p.gradClipNorm() / norm : 1;
      double b1 = p.beta1();
      double b2 = p.beta2();
      for (int i = 0; i < ps.size(); i++) {
        double ratio = ps.get(i).isB() ? adapter.spec().loraPlusRatio() : 1.0;
        double lr = p.learningRate() * ratio;
        for (int j = 0; j < value[i].length; j++) {
          double g = grad[i][j] * clip;
          mom1[i][j] = b1 * mom1[i][j] + (1 - b1) * g;
          mom2[i][j] = b2 * mom2[i][j] + (1 - b2) * g * g;
          double mhat = mom1[i][j] / (1 - Math.pow(b1, step));
          double vhat = mom2[i][j] / (1 - Math.pow(b2, step));
          value[i][j] =
              value[i][j] * (1 - lr * p.weightDecay()) - lr * mhat / (Math.sqrt(vhat) + p.eps());
        }
        assertThat(ps.get(i).value().toDoubleArray())
            .as("step %d %s", step, ps.get(i).name())
            .containsExactly(value[i], offset(1e-12));
        assertThat(adapter.gradient(ps.get(i)).abs().max().getDouble()).isZero();
      }
      assertThat(result.gradNorm()).isCloseTo(norm, offset(1e-9));
      assertThat(result.step()).isEqualTo(step);
      assertThat(result.learningRate()).isEqualTo(p.learningRate());
    }
  }
}
