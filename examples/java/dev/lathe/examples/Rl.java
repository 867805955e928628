package dev.lathe.examples;

import dev.lathe.contracts.model.Datum;
import dev.lathe.contracts.model.ModelInput;
import dev.lathe.contracts.model.TensorData;
import dev.lathe.contracts.sampling.SampleResponse;
import dev.lathe.contracts.sampling.SampledSequence;
import dev.lathe.contracts.sampling.SamplingParams;
import dev.lathe.contracts.training.AdamParams;
import dev.lathe.contracts.training.LoraConfig;
import dev.lathe.contracts.training.LossFnType;
import dev.lathe.sdk.SamplingClient;
import dev.lathe.sdk.ServiceClient;
import dev.lathe.sdk.TrainingClient;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * GRPO-style reinforcement learning with the Java SDK, as examples/python/rl.py: lathe-tiny is
 * rewarded, byte by byte, for saying "lathe"; each position's reward is centred within its group
 * of samples and trained with importance_sampling. The mean reward rises.
 */
public final class Rl {

  static final byte[] TARGET = "lathe".getBytes();
  static final String[] PROMPTS = {"say: ", "name: ", "tool: "};
  static final int GROUP = 16;

  static double[] scores(int[] tokens) {
    double[] s = new double[TARGET.length];
    for (int i = 0; i < TARGET.length; i++) {
      s[i] = i < tokens.length ? Math.max(0, 1 - Math.abs(tokens[i] - TARGET[i]) / 16.0) : 0;
    }
    return s;
  }

  public static int run(String baseUrl, String apiKey, int steps) {
    try (ServiceClient service = ServiceClient.builder(baseUrl, apiKey).build()) {
      TrainingClient training =
          service.createLoraTrainingClient("lathe-tiny", new LoraConfig(16, 0L, true, true, true)).join();
      SamplingParams params = new SamplingParams(TARGET.length, null, null, 1.0, -1, 1.0);
      List<Double> means = new ArrayList<>();
      for (int step = 1; step <= steps; step++) {
        SamplingClient sampler = training.saveWeightsAndGetSamplingClient("rl-java-" + step).join();
        List<Datum> data = new ArrayList<>();
        double total = 0;
        int samples = 0;
        for (String prompt : PROMPTS) {
          int[] p = prompt.chars().toArray();
          SampleResponse out = sampler.sample(ModelInput.ofTokens(p), GROUP, params).join();
          List<double[]> perToken = new ArrayList<>();
          double[] baseline = new double[TARGET.length];
          for (SampledSequence s : out.sequences()) {
            double[] sc = scores(s.tokens());
            perToken.add(sc);
            for (int i = 0; i < sc.length; i++) {
              baseline[i] += sc[i] / out.sequences().size();
              total += sc[i] / TARGET.length;
            }
            samples++;
          }
          for (int k = 0; k < out.sequences().size(); k++) {
            SampledSequence s = out.sequences().get(k);
            int n = p.length + s.tokens().length - 1;
            int[] tokens = new int[n];
            long[] targets = new long[n];
            float[] logprobs = new float[n];
            float[] advantages = new float[n];
            boolean signal = false;
            for (int i = 0; i < n; i++) {
              int j = i + 1 - p.length; // index of the completion token that position i predicts
              tokens[i] = i < p.length ? p[i] : s.tokens()[i - p.length];
              targets[i] = j < 0 ? p[i + 1] : s.tokens()[j];
              if (j >= 0) {
                logprobs[i] = s.logprobs().get(j).floatValue();
                advantages[i] = (float) (perToken.get(k)[j] - baseline[j]);
                signal |= Math.abs(advantages[i]) > 1e-9;
              }
            }
            if (signal) {
              data.add(
                  new Datum(
                      ModelInput.ofTokens(tokens),
                      Map.of(
                          "target_tokens", TensorData.ofLongs(targets),
                          "logprobs", TensorData.ofFloats(logprobs),
                          "advantages", TensorData.ofFloats(advantages))));
            }
          }
        }
        double mean = total / samples;
        means.add(mean);
        if (!data.isEmpty()) {
          training.forwardBackward(data, LossFnType.IMPORTANCE_SAMPLING, null).join();
          training.optimStep(AdamParams.ofLearningRate(1e-3)).join();
        }
        System.out.printf("step %3d  mean reward %.3f%n", step, mean);
      }
      double early = (means.get(0) + means.get(1) + means.get(2)) / 3;
      int n = means.size();
      double late = (means.get(n - 1) + means.get(n - 2) + means.get(n - 3)) / 3;
      System.out.printf("mean reward %.3f (first 3 steps) -> %.3f (last 3)%n", early, late);
      return late > early + 0.05 ? 0 : 1;
    }
  }

  public static void main(String[] args) {
    String url = System.getenv().getOrDefault("LATHE_BASE_URL", "http://localhost:8080");
    System.exit(run(url, System.getenv("LATHE_API_KEY"), 40));
  }
}
