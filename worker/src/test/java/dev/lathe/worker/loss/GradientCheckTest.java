package dev.lathe.worker.loss;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.TinyModel;
import dev.lathe.worker.engine.ForwardBackward;
import dev.lathe.worker.engine.ForwardBackward.Example;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.model.BaseModel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Autograd against central finite differences, in float64, for every loss: the gradient of each
 * sampled LoRA entry must match (L(θ+h) − L(θ−h)) / 2h. CISPO stops the gradient through its
 * clipped ratio, so its differences are taken of the surrogate −Σ c·lp·A with c frozen at θ. DoRA's
 * A, B and magnitude are checked alike, the gradient flowing through the norm it divides by.
 */
class GradientCheckTest {

  static final double H = 1e-5;
  static final Map<String, Double> CONFIG =
      Map.of("clip_low_threshold", 0.8, "clip_high_threshold", 1.2, "beta", 0.5);

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

  @ParameterizedTest
  @EnumSource(LossFn.class)
  void autogradMatchesFiniteDifferences(LossFn loss) {
    try (LoraAdapter adapter =
            LoraAdapter.create(base.config(), LoraSpec.of(4, 11), manager, DataType.FLOAT64);
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      Random rng = new Random(5);
      for (LoraAdapter.Pair p : adapter.pairs().values()) {
        p.b().addi(manager.randomNormal(0, 0.05f, p.b().getShape(), DataType.FLOAT64));
      }
      List<Example> examples = examples(adapter, rng);
      ForwardBackward.run(base.llama(), adapter, examples, loss, CONFIG, true, manager);
      LossFn probe = loss;
      List<Example> probeExamples = examples;
      if (loss == LossFn.CISPO) {
        probe = LossFn.CROSS_ENTROPY;
        probeExamples = cispoSurrogate(adapter, examples);
      }

      Map<String, Integer> checked = check(adapter, probeExamples, probe, rng, 6);
      assertThat(checked.values().stream().mapToInt(Integer::intValue).sum()).isGreaterThan(4);
    }
  }

  @Test
  void doraGradientsMatchFiniteDifferencesThroughTheNorm() {
    LoraSpec spec = LoraSpec.of(4, 11).withDora(true);
    try (LoraAdapter adapter = LoraAdapter.create(base.llama(), spec, manager, DataType.FLOAT64);
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      Random rng = new Random(3);
      for (LoraAdapter.Pair p : adapter.pairs().values()) { // B off 0, m off ‖W‖ (by 1 ± 0.2)
        p.b().addi(manager.randomNormal(0, 0.05f, p.b().getShape(), DataType.FLOAT64));
        p.magnitude()
            .muli(manager.randomUniform(0.8f, 1.2f, p.magnitude().getShape(), DataType.FLOAT64));
      }
      List<Example> examples = examples(adapter, rng);
      ForwardBackward.run(
          base.llama(), adapter, examples, LossFn.CROSS_ENTROPY, CONFIG, true, manager);
      Map<String, Integer> checked = check(adapter, examples, LossFn.CROSS_ENTROPY, rng, 4);
      assertThat(checked.keySet()).as("A, B and m each checked").hasSize(3);
      assertThat(checked.values()).allMatch(n -> n > 3);
    }
  }

  /**
   * Compares autograd's gradient of one random entry of every {@code every}-th parameter (at
   * random: a sample keeps the test fast) with central differences; how many it checked, by the
   * parameter's kind (the end of its name).
   */
  private static Map<String, Integer> check(
      LoraAdapter adapter, List<Example> examples, LossFn loss, Random rng, int every) {
    Map<String, Integer> checked = new HashMap<>();
    for (LoraAdapter.Param p : adapter.parameters()) {
      if (rng.nextInt(every) != 0) {
        continue;
      }
      long[] shape = p.value().getShape().getShape();
      NDIndex at =
          shape.length == 1
              ? new NDIndex(rng.nextInt((int) shape[0]))
              : new NDIndex(rng.nextInt((int) shape[0]), rng.nextInt((int) shape[1]));
      double analytic = adapter.gradient(p).get(at).getDouble();
      double original = p.value().get(at).getDouble();
      p.value().set(at, original + H);
      double plus = lossOf(adapter, examples, loss);
      p.value().set(at, original - H);
      double minus = lossOf(adapter, examples, loss);
      p.value().set(at, original);
      double numeric = (plus - minus) / (2 * H);
      assertThat(Math.abs(numeric - analytic))
          .as("%s %s%s: autograd %s, finite differences %s", loss, p.name(), at, analytic, numeric)
          .isLessThan(1e-6 * Math.max(1, Math.abs(numeric)));
      checked.merge(p.name().substring(p.name().lastIndexOf("lora_")), 1, Integer::sum);
    }
    return checked;
  }

  /** Cross-entropy examples whose weights are CISPO's c·A with c = clip(exp(lp − lp_old)). */
  private static List<Example> cispoSurrogate(LoraAdapter adapter, List<Example> examples) {
    ForwardBackward.Result now =
        ForwardBackward.run(
            base.llama(), adapter, examples, LossFn.CROSS_ENTROPY, Map.of(), false, manager);
    List<Example> out = new ArrayList<>();
    for (int e = 0; e < examples.size(); e++) {
      Example ex = examples.get(e);
      double[] old = ex.inputs().get("logprobs");
      double[] adv = ex.inputs().get("advantages");
      double[] w = new double[old.length];
      for (int i = 0; i < w.length; i++) {
        double ratio = Math.exp(now.logprobs().get(e)[i] - old[i]);
        w[i] = Math.min(Math.max(ratio, 0.8), 1.2) * adv[i];
      }
      out.add(
          new Example(
              ex.tokens(),
              Map.of("target_tokens", ex.inputs().get("target_tokens"), "weights", w)));
    }
    return out;
  }

  private static double lossOf(LoraAdapter adapter, List<Example> examples, LossFn loss) {
    return ForwardBackward.run(base.llama(), adapter, examples, loss, CONFIG, false, manager)
        .loss();
  }

  /** Two sequences; old log-probabilities near the current ones so ratios straddle the clips. */
  private static List<Example> examples(LoraAdapter adapter, Random rng) {
    List<Example> out = new ArrayList<>();
    for (int n : new int[] {6, 4}) {
      int[] tokens = new int[n];
      double[] targets = new double[n];
      double[] weights = new double[n];
      double[] advantages = new double[n];
      for (int i = 0; i < n; i++) {
        tokens[i] = rng.nextInt(256);
        targets[i] = rng.nextInt(259);
        weights[i] = rng.nextDouble();
        advantages[i] = rng.nextGaussian();
      }
      Map<String, double[]> in = new HashMap<>();
      in.put("target_tokens", targets);
      in.put("weights", weights);
      in.put("advantages", advantages);
      out.add(new Example(tokens, in));
    }
    // The sampler's log-probabilities: the model's own, shifted by up to ±0.4 (ratio 0.67–1.5).
    ForwardBackward.Result now =
        ForwardBackward.run(
            base.llama(), adapter, out, LossFn.CROSS_ENTROPY, Map.of(), false, manager);
    for (int e = 0; e < out.size(); e++) {
      double[] old = new double[now.logprobs().get(e).length];
      for (int i = 0; i < old.length; i++) {
        old[i] = now.logprobs().get(e)[i] + (rng.nextDouble() - 0.5) * 0.8;
      }
      out.get(e).inputs().put("logprobs", old);
    }
    return out;
  }
}
