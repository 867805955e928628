package dev.lathe.worker.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.WithTinyModel;
import dev.lathe.worker.engine.ForwardBackward;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.optim.AdamW;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * Requests of different adapters (and the base model), prompt lengths and sampling parameters
 * decode in one batch, and each gets what it gets alone: the same tokens and stop, logprobs equal
 * to float rounding.
 */
class BatchedSamplingTest extends WithTinyModel {

  /** An adapter moved away from B = 0 by a few steps on random data, so it changes the logits. */
  static LoraAdapter trained(int rank, long seed) {
    LoraAdapter a =
        LoraAdapter.create(base.config(), LoraSpec.of(rank, seed), manager, DataType.FLOAT32);
    Random rng = new Random(seed);
    for (int step = 0; step < 3; step++) {
      int[] tokens = new int[12];
      double[] targets = new double[12];
      for (int i = 0; i < 12; i++) {
        tokens[i] = rng.nextInt(256);
        targets[i] = rng.nextInt(256);
      }
      ForwardBackward.run(
          base.llama(),
          a,
          List.of(new ForwardBackward.Example(tokens, Map.of("target_tokens", targets))),
          LossFn.CROSS_ENTROPY,
          Map.of(),
          true,
          manager);
      AdamW.step(a, new AdamW.Params(5e-2, 0.9, 0.95, 1e-8, 0, 0));
    }
    return a;
  }

  static int[] prompt(int length, int salt) {
    int[] p = new int[length];
    for (int i = 0; i < length; i++) {
      p[i] = (i * 37 + salt * 11) % 256;
    }
    return p;
  }

  @Test
  void fourRequestsOnThreeAdaptersDecodeTogetherAsEachAlone() {
    try (LoraAdapter small = trained(4, 1);
        LoraAdapter large = trained(16, 2)) {
      List<Sampler.Job> jobs =
          List.of(
              new Sampler.Job(
                  null,
                  new Sampler.Request(
                      prompt(3, 1), 2, 8, 1.0, -1, 1.0, 11L, List.of(), null, true, 2)),
              new Sampler.Job(
                  small,
                  new Sampler.Request(
                      prompt(7, 2), 3, 12, 0.8, 20, 0.95, 7L, List.of(), null, false, 0)),
              new Sampler.Job(
                  large,
                  new Sampler.Request(
                      prompt(11, 3),
                      1,
                      5,
                      0,
                      -1,
                      1.0,
                      null,
                      List.of(new int[] {256}),
                      null,
                      false,
                      0)),
              new Sampler.Job(
                  small,
                  new Sampler.Request(
                      prompt(5, 4), 2, 9, 1.2, 5, 0.9, 3L, List.of(), null, false, 0)));

      List<Sampler.Output> together = Sampler.sample(base.llama(), jobs, manager);

      List<Integer> distinct = new ArrayList<>();
      for (int j = 0; j < jobs.size(); j++) {
        Sampler.Job job = jobs.get(j);
        Sampler.Output alone = Sampler.sample(base.llama(), job.adapter(), job.request(), manager);
        Sampler.Output batched = together.get(j);
        assertThat(batched.sequences()).hasSameSizeAs(alone.sequences());
        for (int s = 0; s < alone.sequences().size(); s++) {
          Sampler.Sequence a = alone.sequences().get(s);
          Sampler.Sequence b = batched.sequences().get(s);
          assertThat(b.tokens()).as("request %d sample %d", j, s).containsExactly(a.tokens());
          assertThat(b.stopped()).isEqualTo(a.stopped());
          for (int t = 0; t < a.logprobs().length; t++) {
            assertThat(b.logprobs()[t]).isCloseTo(a.logprobs()[t], Offset.offset(1e-4f));
          }
          distinct.add(java.util.Arrays.hashCode(a.tokens()));
        }
        if (alone.promptLogprobs() != null) {
          assertThat(batched.promptLogprobs()).containsExactly(alone.promptLogprobs());
          assertThat(batched.topkIds()).isDeepEqualTo(alone.topkIds());
        }
      }
      // The requests really sampled differently (different adapters, prompts, parameters).
      assertThat(distinct.stream().distinct().count()).isGreaterThan(4);
    }
  }
}
