package dev.lathe.examples;

import dev.lathe.contracts.model.Datum;
import dev.lathe.contracts.model.ModelInput;
import dev.lathe.contracts.model.TensorData;
import dev.lathe.contracts.training.AdamParams;
import dev.lathe.contracts.training.LoraConfig;
import dev.lathe.sdk.ServiceClient;
import dev.lathe.sdk.TrainingClient;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A loss computed on the client: each sequence's mean negative log-likelihood, averaged, so long
 * sequences do not outweigh short ones. The gradient dL/dlogprob is written by hand (Java has no
 * autograd) and sent back by forwardBackwardCustom as cross_entropy weights. The loss falls.
 */
public final class CustomLoss {

  static final String[] TEXTS = {"short one.", "a rather longer sentence to learn.", "mid-sized text."};

  /** L = (1/S) Σ_s −mean(lp_s); dL/dlp_s,i = −1 / (S · |s|). */
  static TrainingClient.Gradient meanNll(List<Datum> data, List<double[]> logprobs) {
    double loss = 0;
    List<double[]> grads = new ArrayList<>();
    for (double[] lp : logprobs) {
      double sum = 0;
      double[] g = new double[lp.length];
      for (int i = 0; i < lp.length; i++) {
        sum += lp[i];
        g[i] = -1.0 / (logprobs.size() * lp.length);
      }
      loss += -sum / lp.length / logprobs.size();
      grads.add(g);
    }
    return new TrainingClient.Gradient(loss, grads, Map.of());
  }

  public static int run(String baseUrl, String apiKey, int steps) {
    try (ServiceClient service = ServiceClient.builder(baseUrl, apiKey).build()) {
      TrainingClient training =
          service.createLoraTrainingClient("lathe-tiny", new LoraConfig(16, 0L, true, true, true)).join();
      List<Datum> data = new ArrayList<>();
      for (String t : TEXTS) {
        byte[] b = t.getBytes(StandardCharsets.US_ASCII);
        int[] tokens = new int[b.length - 1];
        long[] targets = new long[b.length - 1];
        for (int i = 0; i < tokens.length; i++) {
          tokens[i] = b[i];
          targets[i] = b[i + 1];
        }
        data.add(new Datum(ModelInput.ofTokens(tokens), Map.of("target_tokens", TensorData.ofLongs(targets))));
      }
      double first = Double.NaN;
      double last = Double.NaN;
      for (int step = 1; step <= steps; step++) {
        last = training.forwardBackwardCustom(data, CustomLoss::meanNll).join().metrics().get("loss:custom");
        training.optimStep(AdamParams.ofLearningRate(5e-3)).join();
        first = step == 1 ? last : first;
        System.out.printf("step %3d  loss %.4f%n", step, last);
      }
      System.out.printf("loss %.3f -> %.3f%n", first, last);
      return last < 0.3 * first ? 0 : 1;
    }
  }

  public static void main(String[] args) {
    String url = System.getenv().getOrDefault("LATHE_BASE_URL", "http://localhost:8080");
    System.exit(run(url, System.getenv("LATHE_API_KEY"), 40));
  }
}
