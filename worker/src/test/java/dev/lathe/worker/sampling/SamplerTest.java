package dev.lathe.worker.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.lathe.worker.WithTinyModel;
import dev.lathe.worker.engine.ForwardBackward;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.llama.LoraHook;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SamplerTest extends WithTinyModel {

  static final int[] PROMPT = {72, 101, 108, 108, 111, 44, 32};

  static Sampler.Request request(
      int n, int max, double temperature, int topK, double topP, Long seed) {
    return new Sampler.Request(
        PROMPT, n, max, temperature, topK, topP, seed, List.of(), null, false, 0);
  }

  static Sampler.Output sample(Sampler.Request r) {
    return Sampler.sample(base.llama(), (LoraAdapter) null, r, manager);
  }

  /** Full-context forward (no cache) of the prompt plus tokens: log-softmax rows [T, V]. */
  static float[][] fullLogprobs(int[] generated) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      int[] all = new int[PROMPT.length + generated.length];
      System.arraycopy(PROMPT, 0, all, 0, PROMPT.length);
      System.arraycopy(generated, 0, all, PROMPT.length, generated.length);
      long[] ids = Arrays.stream(all).asLongStream().toArray();
      NDArray lp =
          base.llama()
              .forward(manager.create(new long[][] {ids}), null, LoraHook.NONE, null)
              .logSoftmax(-1);
      int v = base.config().vocabSize();
      float[] flat = lp.toFloatArray();
      float[][] rows = new float[all.length][];
      for (int t = 0; t < all.length; t++) {
        rows[t] = Arrays.copyOfRange(flat, t * v, (t + 1) * v);
      }
      return rows;
    }
  }

  @Test
  void temperatureZeroIsTheArgmaxOfAFullForward() {
    Sampler.Sequence s = sample(request(1, 12, 0, -1, 1, null)).sequences().get(0);
    assertThat(s.tokens()).hasSize(12);
    assertThat(s.stopped()).isFalse();
    float[][] lp = fullLogprobs(s.tokens());
    for (int i = 0; i < s.tokens().length; i++) {
      float[] row = lp[PROMPT.length - 1 + i];
      assertThat(s.tokens()[i]).as("token " + i).isEqualTo(Distribution.argmax(row, 0, row.length));
      assertThat(s.logprobs()[i])
          .isCloseTo(row[s.tokens()[i]], org.assertj.core.data.Offset.offset(1e-4f));
    }
  }

  @Test
  void topKOneIsGreedy() {
    int[] greedy = sample(request(1, 10, 0, -1, 1, null)).sequences().get(0).tokens();
    int[] topOne = sample(request(1, 10, 1.3, 1, 1, 5L)).sequences().get(0).tokens();
    assertThat(topOne).containsExactly(greedy);
  }

  @Test
  void aSeedRepeatsExactlyAndSamplesAreIndependentOfTheirBatch() {
    Sampler.Output a = sample(request(4, 16, 1, -1, 1, 42L));
    Sampler.Output b = sample(request(4, 16, 1, -1, 1, 42L));
    for (int i = 0; i < 4; i++) {
      assertThat(a.sequences().get(i).tokens()).containsExactly(b.sequences().get(i).tokens());
      assertThat(a.sequences().get(i).logprobs()).containsExactly(b.sequences().get(i).logprobs());
    }
    assertThat(a.sequences().get(0).tokens()).isNotEqualTo(a.sequences().get(1).tokens());
    Sampler.Output alone = sample(request(1, 16, 1, -1, 1, 42L));
    assertThat(alone.sequences().get(0).tokens()).containsExactly(a.sequences().get(0).tokens());
    Sampler.Output other = sample(request(1, 16, 1, -1, 1, 43L));
    assertThat(other.sequences().get(0).tokens()).isNotEqualTo(alone.sequences().get(0).tokens());
  }

  @Test
  void sampledLogprobsAreTheTemperatureScaledModel() {
    double t = 0.7;
    Sampler.Sequence s = sample(request(1, 8, t, -1, 1, 3L)).sequences().get(0);
    float[][] lp = fullLogprobs(s.tokens());
    for (int i = 0; i < s.tokens().length; i++) {
      float[] row = lp[PROMPT.length - 1 + i];
      // log softmax(z/T) from log softmax(z): (lp/T) − logsumexp(lp/T)
      double max = Double.NEGATIVE_INFINITY;
      for (float v : row) {
        max = Math.max(max, v / t);
      }
      double sum = 0;
      for (float v : row) {
        sum += Math.exp(v / t - max);
      }
      double expected = row[s.tokens()[i]] / t - max - Math.log(sum);
      assertThat((double) s.logprobs()[i])
          .isCloseTo(expected, org.assertj.core.data.Offset.offset(1e-4));
    }
  }

  @Test
  void topPKeepsOnlyTheNucleus() {
    // With top_p tiny only the most likely token survives: the draw is greedy.
    int[] greedy = sample(request(1, 10, 0, -1, 1, null)).sequences().get(0).tokens();
    int[] nucleus = sample(request(1, 10, 1, -1, 1e-6, 8L)).sequences().get(0).tokens();
    assertThat(nucleus).containsExactly(greedy);
  }

  @Test
  void stopSequencesEndASample() {
    int[] greedy = sample(request(1, 10, 0, -1, 1, null)).sequences().get(0).tokens();
    int[] stop = {greedy[3], greedy[4]};
    Sampler.Request r =
        new Sampler.Request(PROMPT, 1, 10, 0, -1, 1, null, List.of(stop), null, false, 0);
    Sampler.Sequence s = sample(r).sequences().get(0);
    int end = 2; // the first place the greedy output ends with the stop sequence
    while (greedy[end - 2] != stop[0] || greedy[end - 1] != stop[1]) {
      end++;
    }
    assertThat(end).isLessThanOrEqualTo(5);
    assertThat(s.stopped()).isTrue();
    assertThat(s.tokens()).containsExactly(Arrays.copyOf(greedy, end));

    Sampler.Request byText =
        new Sampler.Request(
            PROMPT, 1, 10, 0, -1, 1, null, List.of(), tokens -> tokens.length == 2, false, 0);
    assertThat(sample(byText).sequences().get(0).tokens())
        .containsExactly(Arrays.copyOf(greedy, 2));
  }

  @Test
  void promptLogprobsMatchTheTrainingForward() {
    Sampler.Request r = new Sampler.Request(PROMPT, 1, 1, 0, -1, 1, null, List.of(), null, true, 3);
    Sampler.Output out = sample(r);
    double[] targets = new double[PROMPT.length - 1];
    for (int i = 0; i < targets.length; i++) {
      targets[i] = PROMPT[i + 1];
    }
    ForwardBackward.Result fb =
        ForwardBackward.run(
            base.llama(),
            null, // the base model
            List.of(
                new ForwardBackward.Example(
                    Arrays.copyOf(PROMPT, PROMPT.length - 1), Map.of("target_tokens", targets))),
            LossFn.CROSS_ENTROPY,
            Map.of(),
            false,
            manager);
    assertThat(out.promptLogprobs()[0]).isNaN();
    for (int i = 1; i < PROMPT.length; i++) {
      assertThat(out.promptLogprobs()[i])
          .isCloseTo(fb.logprobs().get(0)[i - 1], org.assertj.core.data.Offset.offset(1e-5f));
      assertThat(out.topkIds()[i]).hasSize(3);
      assertThat(out.topkLogprobs()[i][0]).isGreaterThanOrEqualTo(out.topkLogprobs()[i][1]);
      assertThat(out.topkLogprobs()[i][0]).isGreaterThanOrEqualTo(out.promptLogprobs()[i] - 1e-6f);
    }
    assertThat(out.topkIds()[0]).isEmpty();
  }

  @Test
  void aRequestPastTheContextIsRefused() {
    assertThatThrownBy(() -> sample(request(1, 5000, 0, -1, 1, null)))
        .hasMessageContaining("exceeds the model's context");
  }

  /**
   * Top-k sampled logprobs against a full forward of the prompt and the tokens so far: at each
   * position the k ids are the k largest of log softmax(z/T), in order, with their values; the
   * sampled tokens are those of the same request without top-k (the draws are not disturbed).
   */
  @Test
  void topkSampleLogprobsAreTheKMostLikelyOfTheDrawnDistribution() {
    double t = 0.8;
    int k = 4;
    Sampler.Request plain = request(2, 9, t, -1, 1, 11L);
    Sampler.Request withTop =
        new Sampler.Request(PROMPT, 2, 9, t, -1, 1, 11L, List.of(), null, false, 0, k, 0);
    Sampler.Output a = sample(plain);
    Sampler.Output b = sample(withTop);
    for (int n = 0; n < 2; n++) {
      Sampler.Sequence s = b.sequences().get(n);
      assertThat(s.tokens()).containsExactly(a.sequences().get(n).tokens());
      assertThat(a.sequences().get(n).topkIds()).isNull();
      float[][] lp = fullLogprobs(s.tokens());
      for (int i = 0; i < s.tokens().length; i++) {
        float[] row = lp[PROMPT.length - 1 + i];
        double[] scaled = new double[row.length];
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < row.length; v++) {
          scaled[v] = row[v] / t;
          max = Math.max(max, scaled[v]);
        }
        double sum = 0;
        for (double v : scaled) {
          sum += Math.exp(v - max);
        }
        double logSum = max + Math.log(sum);
        Integer[] order = new Integer[row.length];
        for (int v = 0; v < row.length; v++) {
          order[v] = v;
        }
        Arrays.sort(order, (x, y) -> Double.compare(scaled[y], scaled[x]));
        assertThat(s.topkIds()[i]).hasSize(k);
        for (int j = 0; j < k; j++) {
          assertThat(s.topkIds()[i][j]).as("position %d rank %d", i, j).isEqualTo(order[j]);
          assertThat((double) s.topkLogprobs()[i][j])
              .isCloseTo(scaled[order[j]] - logSum, org.assertj.core.data.Offset.offset(1e-4));
        }
      }
    }
  }

  @Test
  void promptLogprobsOfTheLastNOnly() {
    Sampler.Request all =
        new Sampler.Request(PROMPT, 1, 1, 0, -1, 1, null, List.of(), null, true, 2);
    Sampler.Request last =
        new Sampler.Request(PROMPT, 1, 1, 0, -1, 1, null, List.of(), null, true, 2, 0, 3);
    Sampler.Output full = sample(all);
    Sampler.Output tail = sample(last);
    int first = PROMPT.length - 3;
    for (int i = 0; i < PROMPT.length; i++) {
      if (i < first) {
        assertThat(tail.promptLogprobs()[i]).as("position " + i).isNaN();
        assertThat(tail.topkIds()[i]).isEmpty();
      } else {
        assertThat(tail.promptLogprobs()[i]).isEqualTo(full.promptLogprobs()[i]);
        assertThat(tail.topkIds()[i]).containsExactly(full.topkIds()[i]);
      }
    }
    assertThatThrownBy(
            () ->
                new Sampler.Request(
                    PROMPT, 1, 1, 0, -1, 1, null, List.of(), null, true, 0, 0, PROMPT.length))
        .hasMessageContaining("prompt_logprobs_last_n");
  }

  @Test
  void topKIsASortTruncated() {
    java.util.Random random = new java.util.Random(3);
    for (int trial = 0; trial < 200; trial++) {
      int n = 1 + random.nextInt(300);
      float[] v = new float[n + 5];
      for (int i = 0; i < v.length; i++) {
        v[i] = random.nextInt(40) / 4f; // many ties
      }
      int k = 1 + random.nextInt(25);
      Integer[] order = new Integer[n];
      for (int i = 0; i < n; i++) {
        order[i] = i;
      }
      Arrays.sort(
          order, (a, b) -> v[5 + a] != v[5 + b] ? Float.compare(v[5 + b], v[5 + a]) : a - b);
      int[] expected =
          Arrays.stream(order).limit(Math.min(k, n)).mapToInt(Integer::intValue).toArray();
      assertThat(Distribution.topK(v, 5, n, k)).as("trial " + trial).containsExactly(expected);
    }
  }
}
