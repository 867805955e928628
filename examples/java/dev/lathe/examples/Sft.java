package dev.lathe.examples;

import dev.lathe.contracts.model.Datum;
import dev.lathe.contracts.model.ModelInput;
import dev.lathe.contracts.model.TensorData;
import dev.lathe.contracts.sampling.SamplingParams;
import dev.lathe.contracts.training.AdamParams;
import dev.lathe.contracts.training.LoraConfig;
import dev.lathe.contracts.training.LossFnType;
import dev.lathe.sdk.SamplingClient;
import dev.lathe.sdk.ServiceClient;
import dev.lathe.sdk.TrainingClient;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Supervised fine-tuning with the Java SDK: teach lathe-tiny four question/answer pairs, with
 * weight only on the answers. The loss per step falls; greedy samples give the answers.
 *
 * <p>Run with LATHE_API_KEY (and LATHE_BASE_URL) set; exits 1 if it did not learn.
 */
public final class Sft {

  static final String[][] PAIRS = {
    {"sky? ", "blue."}, {"grass? ", "green."}, {"snow? ", "white."}, {"coal? ", "black."}
  };

  static Datum datum(String question, String answer) {
    byte[] q = question.getBytes(StandardCharsets.US_ASCII);
    byte[] a = answer.getBytes(StandardCharsets.US_ASCII);
    int n = q.length + a.length - 1;
    int[] tokens = new int[n];
    long[] targets = new long[n];
    float[] weights = new float[n];
    for (int i = 0; i < n; i++) {
      tokens[i] = i < q.length ? q[i] : a[i - q.length];
      targets[i] = i + 1 < q.length ? q[i + 1] : a[i + 1 - q.length];
      weights[i] = i + 1 < q.length ? 0 : 1; // only the answer's tokens count
    }
    return new Datum(
        ModelInput.ofTokens(tokens),
        Map.of("target_tokens", TensorData.ofLongs(targets), "weights", TensorData.ofFloats(weights)));
  }

  public static int run(String baseUrl, String apiKey, int steps) {
    try (ServiceClient service = ServiceClient.builder(baseUrl, apiKey).build()) {
      TrainingClient training =
          service.createLoraTrainingClient("lathe-tiny", new LoraConfig(32, 0L, true, true, true)).join();
      List<Datum> data = new ArrayList<>();
      int answerTokens = 0;
      int tokens = 0;
      for (String[] p : PAIRS) {
        data.add(datum(p[0], p[1]));
        answerTokens += p[1].length();
        tokens += p[0].length() + p[1].length() - 1;
      }
      double first = Double.NaN;
      double last = Double.NaN;
      long start = System.nanoTime();
      for (int step = 1; step <= steps; step++) {
        var fb = training.forwardBackward(data, LossFnType.CROSS_ENTROPY, null);
        // Linear decay to zero: a constant rate keeps the loss bouncing at the end.
        double lr = 5e-3 * (1 - (step - 1) / (double) steps);
        var opt = training.optimStep(AdamParams.ofLearningRate(lr));
        last = fb.join().metrics().get("loss:sum") / answerTokens;
        opt.join();
        first = step == 1 ? last : first;
        double rate = step * tokens / ((System.nanoTime() - start) / 1e9);
        System.out.printf("step %3d  loss/answer-token %7.4f  %6.0f tokens/s%n", step, last, rate);
      }
      SamplingClient sampler = training.saveWeightsAndGetSamplingClient("sft-java").join();
      int right = 0;
      for (String[] p : PAIRS) {
        var out =
            sampler
                .sample(
                    ModelInput.ofTokens(p[0].chars().toArray()),
                    1,
                    new SamplingParams(p[1].length(), null, null, 0.0, -1, 1.0))
                .join();
        StringBuilder said = new StringBuilder();
        for (int t : out.sequences().getFirst().tokens()) {
          said.append((char) t);
        }
        right += said.toString().equals(p[1]) ? 1 : 0;
        System.out.printf("%10s -> %s  (expected %s)%n", p[0], said, p[1]);
      }
      System.out.printf("loss %.3f -> %.3f; %d/%d answers right%n", first, last, right, PAIRS.length);
      return last < 0.2 * first && right >= 3 ? 0 : 1;
    }
  }

  public static void main(String[] args) {
    String url = System.getenv().getOrDefault("LATHE_BASE_URL", "http://localhost:8080");
    System.exit(run(url, System.getenv("LATHE_API_KEY"), 80));
  }
}
