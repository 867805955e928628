package dev.lathe.worker.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.TinyModel;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.model.llama.LoraHook;
import dev.lathe.worker.optim.AdamW;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The forgetting probe: a forward's KL(p_adapter ‖ p_base) per position, measured inside a fused
 * batch, equals the one computed here in double precision from the logits of each example run alone
 * on the adapter and on the base model.
 */
class KlFromBaseTest {

  private NDManager manager;
  private BaseModel base;
  private final List<LoraAdapter> open = new ArrayList<>();

  @BeforeEach
  void load() {
    manager = NDManager.newBaseManager();
    base = TinyModel.load(manager, DataType.FLOAT64);
  }

  @AfterEach
  void close() {
    open.forEach(LoraAdapter::close);
    base.close();
    manager.close();
  }

  @Test
  void theKlOfATrainedAdapterMatchesOneComputedFromEachExampleAlone() {
    LoraAdapter probed = trained(1);
    LoraAdapter other = trained(2);
    List<ForwardBackward.Example> probe = examples(11, 3);
    ForwardBackward.Job klJob = job(probed, probe, true);
    // Another tenant's forward_backward and the base model ride in the same batch.
    List<ForwardBackward.Result> results =
        ForwardBackward.run(
            base.llama(),
            List.of(
                new ForwardBackward.Job(
                    other, examples(12, 2), LossFn.CROSS_ENTROPY, Map.of(), true),
                klJob,
                job(null, examples(13, 1), false)),
            manager);
    ForwardBackward.Result r = results.get(1);

    assertThat(r.kl()).hasSize(probe.size());
    assertThat(results.get(0).kl()).isNull();
    double total = 0;
    for (int i = 0; i < probe.size(); i++) {
      double[] expected = reference(probed, probe.get(i).tokens());
      float[] kl = r.kl().get(i);
      assertThat(kl).hasSize(expected.length);
      for (int t = 0; t < kl.length; t++) {
        assertThat((double) kl[t])
            .as("datum %d, position %d", i, t)
            .isCloseTo(expected[t], within(1e-6 * expected[t] + 1e-9));
        total += expected[t];
      }
    }
    assertThat(total).as("a trained adapter moved away from the base").isGreaterThan(1e-4);

    // Measuring the KL leaves the loss and logprobs as they are without it.
    ForwardBackward.Result plain =
        ForwardBackward.run(base.llama(), List.of(job(probed, probe, false)), manager).getFirst();
    assertThat(r.loss()).isCloseTo(plain.loss(), within(1e-9));
    for (int i = 0; i < probe.size(); i++) {
      float[] lp = r.logprobs().get(i);
      for (int t = 0; t < lp.length; t++) {
        assertThat(lp[t]).isCloseTo(plain.logprobs().get(i)[t], within(1e-6f));
      }
    }
    assertThat(plain.kl()).isNull();
  }

  @Test
  void aFreshAdapterIsTheBaseModel() {
    LoraAdapter fresh =
        LoraAdapter.create(base.config(), LoraSpec.of(8, 3), manager, DataType.FLOAT64);
    open.add(fresh);
    ForwardBackward.Result r =
        ForwardBackward.run(base.llama(), List.of(job(fresh, examples(14, 2), true)), manager)
            .getFirst();
    for (float[] kl : r.kl()) {
      assertThat(kl).containsOnly(0f); // B = 0: both rows compute the same numbers
    }
  }

  @Test
  void onlyForwardMeasuresIt() {
    LoraAdapter adapter = trained(4);
    assertThatThrownBy(
            () ->
                new ForwardBackward.Job(
                    adapter, examples(15, 1), LossFn.CROSS_ENTROPY, Map.of(), true, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("forward only");
  }

  private static ForwardBackward.Job job(
      LoraAdapter adapter, List<ForwardBackward.Example> examples, boolean kl) {
    return new ForwardBackward.Job(adapter, examples, LossFn.CROSS_ENTROPY, Map.of(), false, kl);
  }

  /** An adapter after three AdamW steps on data of its own: B is no longer zero. */
  private LoraAdapter trained(long seed) {
    LoraAdapter a =
        LoraAdapter.create(base.config(), LoraSpec.of(8, seed), manager, DataType.FLOAT64);
    open.add(a);
    for (int step = 0; step < 3; step++) {
      ForwardBackward.run(
          base.llama(),
          a,
          examples(seed * 100 + step, 2),
          LossFn.CROSS_ENTROPY,
          Map.of(),
          true,
          manager);
      AdamW.step(a, new AdamW.Params(5e-2, 0.9, 0.95, 1e-8, 0, 0));
    }
    return a;
  }

  /** KL(p_a ‖ p_b) at each position from the two models' logits of the example alone, in double. */
  private double[] reference(LoraAdapter adapter, int[] tokens) {
    long[] ids = java.util.Arrays.stream(tokens).asLongStream().toArray();
    try (NDManager m = manager.newSubManager()) {
      NDArray in = m.create(ids).reshape(1, ids.length);
      double[] a =
          base.llama().forward(in, null, adapter.hook(), null).toDoubleArray(); // [1, T, V]
      double[] b = base.llama().forward(in, null, LoraHook.NONE, null).toDoubleArray(); // [1, T, V]
      int v = a.length / tokens.length;
      double[] kl = new double[tokens.length];
      for (int t = 0; t < tokens.length; t++) {
        double[] la = logSoftmax(a, t * v, v);
        double[] lb = logSoftmax(b, t * v, v);
        for (int k = 0; k < v; k++) {
          kl[t] += Math.exp(la[k]) * (la[k] - lb[k]);
        }
      }
      return kl;
    }
  }

  private static double[] logSoftmax(double[] x, int from, int n) {
    double max = Double.NEGATIVE_INFINITY;
    for (int k = 0; k < n; k++) {
      max = Math.max(max, x[from + k]);
    }
    double sum = 0;
    for (int k = 0; k < n; k++) {
      sum += Math.exp(x[from + k] - max);
    }
    double[] out = new double[n];
    for (int k = 0; k < n; k++) {
      out[k] = x[from + k] - max - Math.log(sum);
    }
    return out;
  }

  /** {@code n} examples of lengths 4..19 with random tokens and targets. */
  private static List<ForwardBackward.Example> examples(long seed, int n) {
    Random rng = new Random(seed);
    List<ForwardBackward.Example> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int len = 4 + rng.nextInt(16);
      int[] tokens = new int[len];
      double[] targets = new double[len];
      for (int j = 0; j < len; j++) {
        tokens[j] = rng.nextInt(256);
        targets[j] = rng.nextInt(256);
      }
      out.add(new ForwardBackward.Example(tokens, Map.of("target_tokens", targets)));
    }
    return out;
  }
}
