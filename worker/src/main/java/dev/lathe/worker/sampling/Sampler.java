package dev.lathe.worker.sampling;

import ai.djl.ndarray.NDManager;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.model.llama.Llama;
import java.util.List;
import java.util.function.Predicate;

/**
 * Samples continuations with a KV cache: each prompt is prefilled once, its cache repeated for each
 * of {@code num_samples} rows, then all rows of all requests decode one token per step, each with
 * its request's adapter and sampling parameters ({@link DecodeBatch}, which requests may also join
 * and leave mid-decode). Each sample draws from its own generator seeded by (seed, sample index),
 * so a seeded request repeats exactly, alone or batched with others.
 */
public final class Sampler {

  /**
   * What to sample.
   *
   * @param temperature 0 is greedy
   * @param topK -1 keeps every token
   * @param topP 1 keeps every token
   * @param seed null for a random seed
   * @param stopSequences token sequences that end a sample (kept in its output)
   * @param stopText ends a sample when true of its tokens so far (e.g. a stop string), or null
   * @param topkPromptLogprobs 0 for none
   * @param topkSampleLogprobs the k most likely tokens at each sampled position; 0 for none
   * @param promptLogprobsLastN prompt logprobs (and their top-k) for only the last n prompt tokens;
   *     0 for the whole prompt
   */
  public record Request(
      int[] prompt,
      int numSamples,
      int maxTokens,
      double temperature,
      int topK,
      double topP,
      Long seed,
      List<int[]> stopSequences,
      Predicate<int[]> stopText,
      boolean promptLogprobs,
      int topkPromptLogprobs,
      int topkSampleLogprobs,
      int promptLogprobsLastN) {

    public Request {
      if (prompt.length == 0) {
        throw new IllegalArgumentException("prompt must not be empty");
      }
      if (numSamples < 1 || maxTokens < 1) {
        throw new IllegalArgumentException("num_samples and max_tokens must be positive");
      }
      if (!(temperature >= 0) || !(topP > 0 && topP <= 1) || topK == 0 || topK < -1) {
        throw new IllegalArgumentException("temperature, top_p or top_k out of range");
      }
      if (topkSampleLogprobs < 0
          || promptLogprobsLastN < 0
          || promptLogprobsLastN >= prompt.length) {
        throw new IllegalArgumentException(
            "topk_sample_logprobs or prompt_logprobs_last_n out of range");
      }
    }

    /** A request without sampled top-k logprobs, scoring the whole prompt. */
    public Request(
        int[] prompt,
        int numSamples,
        int maxTokens,
        double temperature,
        int topK,
        double topP,
        Long seed,
        List<int[]> stopSequences,
        Predicate<int[]> stopText,
        boolean promptLogprobs,
        int topkPromptLogprobs) {
      this(
          prompt,
          numSamples,
          maxTokens,
          temperature,
          topK,
          topP,
          seed,
          stopSequences,
          stopText,
          promptLogprobs,
          topkPromptLogprobs,
          0,
          0);
    }
  }

  /**
   * One sample: its tokens, the log-probability of each, and whether a stop ended it; with {@code
   * topk_sample_logprobs}, the k most likely tokens at each position and their log-probabilities
   * (under the distribution the token was drawn from), else null.
   */
  public record Sequence(
      int[] tokens, float[] logprobs, boolean stopped, int[][] topkIds, float[][] topkLogprobs) {

    public Sequence(int[] tokens, float[] logprobs, boolean stopped) {
      this(tokens, logprobs, stopped, null, null);
    }
  }

  /**
   * The samples; with prompt log-probabilities, entry 0 is NaN (no context), and for top-k prompt
   * log-probabilities row 0 is empty. Positions before the last {@code prompt_logprobs_last_n} are
   * NaN and empty rows too.
   */
  public record Output(
      List<Sequence> sequences, float[] promptLogprobs, int[][] topkIds, float[][] topkLogprobs) {}

  private Sampler() {}

  /** A request and the adapter it samples from (null: the base model). */
  public record Job(LoraAdapter adapter, Request request) {}

  /** One request alone. */
  public static Output sample(Llama model, LoraAdapter adapter, Request req, NDManager manager) {
    return sample(model, List.of(new Job(adapter, req)), manager).getFirst();
  }

  /**
   * Several requests, each with its own adapter, prompt and sampling parameters, decoded together
   * in one {@link DecodeBatch} from the first step; each gets the tokens it gets alone with the
   * same seed, and its logprobs to float rounding.
   */
  public static List<Output> sample(Llama model, List<Job> jobs, NDManager manager) {
    Output[] outputs = new Output[jobs.size()];
    try (DecodeBatch<Integer> batch = new DecodeBatch<>(model, manager)) {
      for (int j = 0; j < jobs.size(); j++) {
        batch.admit(j, jobs.get(j));
      }
      while (!batch.isEmpty()) {
        for (DecodeBatch.Finished<Integer> f : batch.step()) {
          outputs[f.key()] = f.output();
        }
      }
    }
    return List.of(outputs);
  }

  /** A sampled token and its log-probability. */
  record Pick(int token, float logprob) {}
}
