package dev.lathe.worker.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.engine.GradMode;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraRows;
import dev.lathe.worker.model.llama.KvCache;
import dev.lathe.worker.model.llama.Llama;
import dev.lathe.worker.model.llama.LoraHook;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Predicate;

/**
 * Samples continuations with a KV cache: each prompt is prefilled once, its cache repeated for each
 * of {@code num_samples} rows, then all rows of all requests decode one token per step, each with
 * its request's adapter and sampling parameters. Each sample draws from its own generator seeded by
 * (seed, sample index), so a seeded request repeats exactly, alone or batched with others.
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
      int topkPromptLogprobs) {

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
    }
  }

  /** One sample: its tokens, the log-probability of each, and whether a stop ended it. */
  public record Sequence(int[] tokens, float[] logprobs, boolean stopped) {}

  /**
   * The samples; with prompt log-probabilities, entry 0 is NaN (no context), and for top-k prompt
   * log-probabilities row 0 is empty.
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
   * Several requests, each with its own adapter, prompt and sampling parameters, decoded together:
   * each prompt is prefilled alone, the caches are stacked right-aligned (shorter prompts left-
   * padded), and every step runs all rows through one forward with each row's adapter. A request's
   * tokens are those it gets alone with the same seed; its logprobs agree to float rounding.
   */
  public static List<Output> sample(Llama model, List<Job> jobs, NDManager manager) {
    GradMode.off();
    int context = model.config().maxPositionEmbeddings();
    for (Job j : jobs) {
      Request req = j.request();
      if (req.prompt().length + req.maxTokens() > context) {
        throw new IllegalArgumentException(
            "prompt ("
                + req.prompt().length
                + " tokens) plus max_tokens ("
                + req.maxTokens()
                + ") exceeds the model's context of "
                + context);
      }
    }
    int vocab = model.config().vocabSize();
    int width = jobs.stream().mapToInt(j -> j.request().prompt().length).max().orElse(0);
    int steps = jobs.stream().mapToInt(j -> j.request().maxTokens()).max().orElse(0);
    try (NDManager m = manager.newSubManager();
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      List<Row> rows = new ArrayList<>();
      List<Output> prompts = new ArrayList<>();
      List<KvCache> caches = new ArrayList<>();
      List<LoraRows.Segment> segments = new ArrayList<>();
      List<float[]> firstLogits = new ArrayList<>();
      for (Job j : jobs) {
        Request req = j.request();
        LoraHook hook = j.adapter() == null ? LoraHook.NONE : j.adapter().hook();
        KvCache cache = new KvCache(model.config(), m, model.dtype(), 1, req.prompt().length);
        long[] prompt = Arrays.stream(req.prompt()).asLongStream().toArray();
        NDArray prefill =
            model.forward(m.create(new long[][] {prompt}), null, hook, cache); // [1, P, V]
        prompts.add(promptLogprobs(prefill, req, vocab));
        float[] last =
            prefill.get("0, -1, :").toType(DataType.FLOAT32, false).toFloatArray(); // [V]
        cache.repeatRows(req.numSamples());
        caches.add(cache);
        segments.add(new LoraRows.Segment(j.adapter(), req.numSamples()));
        long seed = req.seed() != null ? req.seed() : new SplittableRandom().nextLong();
        for (int r = 0; r < req.numSamples(); r++) {
          rows.add(
              new Row(
                  new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * (r + 1))),
                  req,
                  width - req.prompt().length));
          firstLogits.add(last);
        }
      }
      int n = rows.size();
      int[] leftPad = rows.stream().mapToInt(r -> r.leftPad).toArray();
      boolean padded = Arrays.stream(leftPad).anyMatch(p -> p > 0);
      LoraHook lora = LoraRows.of(segments);
      float[] logits = new float[n * vocab];
      for (int r = 0; r < n; r++) {
        System.arraycopy(firstLogits.get(r), 0, logits, r * vocab, vocab);
      }
      try (KvCache cache = stacked(caches, m, width, width + steps)) {
        for (int step = 0; step < steps; step++) {
          long[][] next = new long[n][1];
          boolean anyRunning = false;
          for (int r = 0; r < n; r++) {
            Row row = rows.get(r);
            if (!row.done) {
              Pick p = Distribution.pick(logits, r * vocab, vocab, row.req, row.rng);
              row.add(p.token(), p.logprob());
              row.done = row.size == row.req.maxTokens() || stops(row, row.req);
              anyRunning |= !row.done;
            }
            next[r][0] = row.size == 0 ? 0 : row.tokens[row.size - 1];
          }
          if (!anyRunning) {
            break;
          }
          try (NDScope stepScope = new NDScope()) {
            stepScope.suppressNotUsedWarning();
            NDArray ids = m.create(next);
            NDArray out = // [n, 1, V]
                padded
                    ? model.forwardLeftPadded(ids, leftPad, lora, cache)
                    : model.forward(ids, null, lora, cache);
            logits = out.toType(DataType.FLOAT32, false).toFloatArray();
          }
        }
      }
      List<Output> outputs = new ArrayList<>(jobs.size());
      int r = 0;
      for (int j = 0; j < jobs.size(); j++) {
        List<Sequence> sequences = new ArrayList<>();
        for (int k = 0; k < jobs.get(j).request().numSamples(); k++, r++) {
          Row row = rows.get(r);
          sequences.add(
              new Sequence(
                  Arrays.copyOf(row.tokens, row.size),
                  Arrays.copyOf(row.logprobs, row.size),
                  row.stopped));
        }
        Output p = prompts.get(j);
        outputs.add(new Output(sequences, p.promptLogprobs(), p.topkIds(), p.topkLogprobs()));
      }
      return outputs;
    }
  }

  /** The requests' prefill caches as one, right-aligned at {@code width}. */
  private static KvCache stacked(List<KvCache> caches, NDManager m, int width, int capacity) {
    try {
      return KvCache.stack(caches, m, width, capacity);
    } finally {
      caches.forEach(KvCache::close);
    }
  }

  private static boolean stops(Row row, Request req) {
    for (int[] stop : req.stopSequences()) {
      if (stop.length > 0 && row.size >= stop.length) {
        boolean match = true;
        for (int i = 0; i < stop.length && match; i++) {
          match = row.tokens[row.size - stop.length + i] == stop[i];
        }
        if (match) {
          row.stopped = true;
          return true;
        }
      }
    }
    if (req.stopText() != null && req.stopText().test(Arrays.copyOf(row.tokens, row.size))) {
      row.stopped = true;
      return true;
    }
    return false;
  }

  private static Output promptLogprobs(NDArray prefill, Request req, int vocab) {
    if (!req.promptLogprobs() && req.topkPromptLogprobs() == 0) {
      return new Output(List.of(), null, null, null);
    }
    int p = req.prompt().length;
    // Position i-1 predicts prompt token i.
    float[] lp = prefill.logSoftmax(-1).toType(DataType.FLOAT32, false).toFloatArray(); // [P*V]
    float[] promptLp = null;
    if (req.promptLogprobs()) {
      promptLp = new float[p];
      promptLp[0] = Float.NaN;
      for (int i = 1; i < p; i++) {
        promptLp[i] = lp[(i - 1) * vocab + req.prompt()[i]];
      }
    }
    int[][] ids = null;
    float[][] values = null;
    int k = Math.min(req.topkPromptLogprobs(), vocab);
    if (k > 0) {
      ids = new int[p][];
      values = new float[p][];
      ids[0] = new int[0];
      values[0] = new float[0];
      for (int i = 1; i < p; i++) {
        int[] top = Distribution.topK(lp, (i - 1) * vocab, vocab, k);
        ids[i] = top;
        values[i] = new float[k];
        for (int j = 0; j < k; j++) {
          values[i][j] = lp[(i - 1) * vocab + top[j]];
        }
      }
    }
    return new Output(List.of(), promptLp, ids, values);
  }

  /** A sample being decoded, of its request, behind {@code leftPad} pad slots. */
  private static final class Row {
    final SplittableRandom rng;
    final Request req;
    final int leftPad;
    final int[] tokens;
    final float[] logprobs;
    int size;
    boolean done;
    boolean stopped;

    Row(SplittableRandom rng, Request req, int leftPad) {
      this.rng = rng;
      this.req = req;
      this.leftPad = leftPad;
      this.tokens = new int[req.maxTokens()];
      this.logprobs = new float[req.maxTokens()];
    }

    void add(int token, float logprob) {
      tokens[size] = token;
      logprobs[size] = logprob;
      size++;
    }
  }

  /** A sampled token and its log-probability. */
  record Pick(int token, float logprob) {}
}
