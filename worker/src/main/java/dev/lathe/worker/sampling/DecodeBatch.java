package dev.lathe.worker.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.engine.GradMode;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraGather;
import dev.lathe.worker.model.llama.KvCache;
import dev.lathe.worker.model.llama.Llama;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.model.llama.LoraHook;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Continuous batching: the samples of many requests decode together, one token per {@link #step()},
 * and requests join and leave at those token boundaries. A joining request's prompt is prefilled
 * alone; at the next step its cache is stacked beside the others', all right-aligned at the widest
 * (the others shift right, so a row's position is its slot minus its left padding). Rows that
 * finish leave the batch at once, and the padding every remaining row shares is cut off. Each row
 * uses its request's adapter ({@link LoraGather}) and sampling parameters, and draws from its own
 * generator seeded by (seed, sample index): a request's tokens are those it gets alone, whatever
 * joins or leaves beside it; its logprobs agree to float rounding.
 *
 * @param <K> what the caller knows a request by
 */
public final class DecodeBatch<K> implements AutoCloseable {

  /** A request whose samples have all ended, and its output. */
  public record Finished<K>(K key, Sampler.Output output) {}

  private final Llama model;
  private final NDManager manager;
  private final int vocab;
  private final List<Member<K>> members = new ArrayList<>(); // admitted and not yet returned
  private final List<Member<K>> joining = new ArrayList<>();
  private final List<Row<K>> rows = new ArrayList<>(); // in cache row order
  private float[] logits = new float[0]; // [rows, V]: each row's next-token logits
  private KvCache cache; // null while no row decodes
  private LoraHook lora; // the rows' adapters; null when rows joined or left since it was built

  public DecodeBatch(Llama model, NDManager parent) {
    this.model = model;
    this.manager = parent.newSubManager();
    this.vocab = model.config().vocabSize();
  }

  /** Samples decoding now, and those that join at the next step. */
  public int rows() {
    return rows.size() + joining.stream().mapToInt(j -> j.job.request().numSamples()).sum();
  }

  /** Bytes the KV cache takes now. */
  public long cacheBytes() {
    return cache == null ? 0 : cache.bytes();
  }

  /**
   * Bytes the KV cache would take with {@code req} in the batch too: every row (joining ones
   * included) times the slots the widest prompt and the longest remaining sample need.
   */
  public long cacheBytesWith(Sampler.Request req) {
    long slots = (long) (rows() + req.numSamples()) * (widthWith(req) + remainingWith(req));
    LlamaConfig c = model.config();
    long perSlot = 2L * c.numHiddenLayers() * c.numKeyValueHeads() * c.headDim();
    return slots * perSlot * model.dtype().getNumOfBytes();
  }

  /** The widest prompt of the batch's rows, the joining requests and {@code extra} (or null). */
  private int widthWith(Sampler.Request extra) {
    int width = Math.max(width(), extra == null ? 0 : extra.prompt().length);
    for (Member<K> j : joining) {
      width = Math.max(width, j.job.request().prompt().length);
    }
    return width;
  }

  /** The most tokens any of those rows has still to sample. */
  private int remainingWith(Sampler.Request extra) {
    int remaining = extra == null ? 0 : extra.maxTokens();
    for (Member<K> j : joining) {
      remaining = Math.max(remaining, j.job.request().maxTokens());
    }
    for (Row<K> row : rows) {
      remaining = Math.max(remaining, row.remaining());
    }
    return remaining;
  }

  /** Cache slots each row's attention reads: the widest row, padding included (0 when empty). */
  public int width() {
    return cache == null ? 0 : cache.length();
  }

  public boolean isEmpty() {
    return rows() == 0;
  }

  /**
   * The requests admitted and not yet returned by {@link #step()}: after a step that threw, those
   * whose fate is unknown.
   */
  public List<K> keys() {
    return members.stream().map(m -> m.key).toList();
  }

  /** The adapters of the requests in the batch (they must stay open until those finish). */
  public Set<LoraAdapter> adapters() {
    Set<LoraAdapter> in = Collections.newSetFromMap(new IdentityHashMap<>());
    joining.forEach(j -> in.add(j.job.adapter()));
    rows.forEach(r -> in.add(r.member.job.adapter()));
    in.remove(null);
    return in;
  }

  /**
   * Checks that a request fits the model's context.
   *
   * @throws IllegalArgumentException if prompt and max_tokens exceed it
   */
  public void checkFits(Sampler.Request req) {
    int context = model.config().maxPositionEmbeddings();
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

  /**
   * Prefills a request's prompt; its samples join the batch at the next step.
   *
   * @throws IllegalArgumentException if prompt and max_tokens exceed the model's context
   */
  public void admit(K key, Sampler.Job job) {
    GradMode.off();
    Sampler.Request req = job.request();
    checkFits(req);
    LoraHook hook = job.adapter() == null ? LoraHook.NONE : job.adapter().hook();
    KvCache prefilled = new KvCache(model.config(), manager, model.dtype(), 1, req.prompt().length);
    try {
      Sampler.Output prompts;
      float[] last;
      try (NDScope scope = new NDScope()) {
        scope.suppressNotUsedWarning();
        long[] prompt = Arrays.stream(req.prompt()).asLongStream().toArray();
        NDArray ids = manager.create(new long[][] {prompt});
        boolean wantsPrompt = req.promptLogprobs() || req.topkPromptLogprobs() > 0;
        NDArray out = // [1, P, V], or [1, 1, V] when only the next token's distribution is needed
            wantsPrompt
                ? model.forward(ids, null, hook, prefilled)
                : model.forwardLast(ids, hook, prefilled);
        prompts = promptLogprobs(out, req);
        last = out.get("0, -1, :").toType(DataType.FLOAT32, false).toFloatArray(); // [V]
      }
      prefilled.repeatRows(req.numSamples()); // outside the scope: the cache keeps these arrays
      Member<K> member = new Member<>(key, job, prompts, prefilled, last);
      joining.add(member);
      members.add(member);
    } catch (RuntimeException e) {
      prefilled.close();
      throw e;
    }
  }

  /**
   * One token boundary: the joining requests join, every sample takes its next token, the samples
   * that ended leave, and the rest run one forward step.
   *
   * @return the requests that finished at this step
   */
  public List<Finished<K>> step() {
    GradMode.off();
    join();
    List<Finished<K>> finished = new ArrayList<>();
    boolean anyEnded = false;
    for (int r = 0; r < rows.size(); r++) {
      Row<K> row = rows.get(r);
      Sampler.Pick p = Distribution.pick(logits, r * vocab, vocab, row.req(), row.rng);
      if (row.top != null) {
        row.top[row.size] =
            Distribution.top(
                logits, r * vocab, vocab, row.req().temperature(), row.req().topkSampleLogprobs());
      }
      row.add(p.token(), p.logprob());
      if (row.size == row.req().maxTokens() || stops(row)) {
        row.done = true;
        anyEnded = true;
        if (--row.member.running == 0) {
          finished.add(new Finished<>(row.member.key, row.member.output()));
        }
      }
    }
    if (anyEnded) {
      leave();
    }
    if (!rows.isEmpty()) {
      forward();
    }
    members.removeIf(m -> m.running == 0 && m.prefilled == null);
    return finished;
  }

  /** Stacks the joining requests' caches beside the batch's, all right-aligned at the widest. */
  private void join() {
    if (joining.isEmpty()) {
      return;
    }
    int width = widthWith(null);
    int capacity = width + remainingWith(null);
    int shift = width - width();
    float[] next = Arrays.copyOf(logits, rows() * vocab);
    int r = rows.size();
    for (Row<K> row : rows) {
      row.leftPad += shift;
    }
    for (Member<K> j : joining) {
      Sampler.Request req = j.job.request();
      long seed = req.seed() != null ? req.seed() : new SplittableRandom().nextLong();
      for (int s = 0; s < req.numSamples(); s++, r++) {
        Row<K> row = new Row<>(j, seed, s, width - req.prompt().length);
        j.samples.add(row);
        rows.add(row);
        System.arraycopy(j.lastLogits, 0, next, r * vocab, vocab);
      }
      j.running = req.numSamples();
    }
    List<KvCache> parts = new ArrayList<>();
    if (cache != null) {
      parts.add(cache);
    }
    joining.forEach(j -> parts.add(j.prefilled));
    try {
      cache = KvCache.stack(parts, manager, width, capacity);
    } finally {
      parts.forEach(KvCache::close);
      joining.forEach(j -> j.prefilled = null);
      joining.clear();
    }
    logits = next;
    rowsChanged();
  }

  /** Drops the ended rows from the cache, with the left padding all remaining rows share. */
  private void leave() {
    List<Row<K>> kept = rows.stream().filter(row -> !row.done).toList();
    KvCache old = cache;
    if (kept.isEmpty()) {
      cache = null;
    } else {
      long[] index = new long[kept.size()];
      for (int i = 0, r = 0; r < rows.size(); r++) {
        if (!rows.get(r).done) {
          index[i++] = r;
        }
      }
      int from = kept.stream().mapToInt(row -> row.leftPad).min().orElseThrow();
      cache = old.keep(index, from, manager);
      kept.forEach(row -> row.leftPad -= from);
    }
    old.close();
    rows.clear();
    rows.addAll(kept);
    rowsChanged();
  }

  /** Each row's latest token through the model: the next step's logits. */
  private void forward() {
    int n = rows.size();
    long[][] next = new long[n][1];
    int[] leftPad = new int[n];
    for (int r = 0; r < n; r++) {
      Row<K> row = rows.get(r);
      next[r][0] = row.tokens[row.size - 1];
      leftPad[r] = row.leftPad;
    }
    boolean padded = Arrays.stream(leftPad).anyMatch(p -> p > 0);
    if (lora == null) {
      lora = hook();
    }
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      NDArray ids = manager.create(next);
      NDArray out = // [n, 1, V]
          padded
              ? model.forwardLeftPadded(ids, leftPad, lora, cache)
              : model.forward(ids, null, lora, cache);
      logits = out.toType(DataType.FLOAT32, false).toFloatArray();
    }
  }

  /** The rows' adapters: one adapter (or none) for all, or gathered per row. */
  private LoraHook hook() {
    List<LoraAdapter> adapters = rows.stream().map(r -> r.member.job.adapter()).toList();
    return LoraGather.forDecoding(adapters, model.dtype(), manager);
  }

  /** Rows joined or left: the adapters' hook is built again before the next forward. */
  private void rowsChanged() {
    if (lora instanceof LoraGather gathered) {
      gathered.close();
    }
    lora = null;
  }

  private static boolean stops(Row<?> row) {
    Sampler.Request req = row.req();
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

  private Sampler.Output promptLogprobs(NDArray prefill, Sampler.Request req) {
    if (!req.promptLogprobs() && req.topkPromptLogprobs() == 0) {
      return new Sampler.Output(List.of(), null, null, null);
    }
    int p = req.prompt().length;
    // Position i-1 predicts prompt token i; the first scored is 1, or the first of the last n.
    int first = req.promptLogprobsLastN() > 0 ? p - req.promptLogprobsLastN() : 1;
    float[] lp = prefill.logSoftmax(-1).toType(DataType.FLOAT32, false).toFloatArray(); // [P*V]
    float[] promptLp = null;
    if (req.promptLogprobs()) {
      promptLp = new float[p];
      Arrays.fill(promptLp, 0, first, Float.NaN);
      for (int i = first; i < p; i++) {
        promptLp[i] = lp[(i - 1) * vocab + req.prompt()[i]];
      }
    }
    int[][] ids = null;
    float[][] values = null;
    int k = Math.min(req.topkPromptLogprobs(), vocab);
    if (k > 0) {
      ids = new int[p][];
      values = new float[p][];
      for (int i = 0; i < first; i++) {
        ids[i] = new int[0];
        values[i] = new float[0];
      }
      for (int i = first; i < p; i++) {
        int[] top = Distribution.topK(lp, (i - 1) * vocab, vocab, k);
        ids[i] = top;
        values[i] = new float[k];
        for (int j = 0; j < k; j++) {
          values[i][j] = lp[(i - 1) * vocab + top[j]];
        }
      }
    }
    return new Sampler.Output(List.of(), promptLp, ids, values);
  }

  @Override
  public void close() {
    rowsChanged();
    members.clear();
    joining.clear();
    rows.clear();
    manager.close();
  }

  /** A request in the batch: its samples, and how many of them are still decoding. */
  private static final class Member<K> {
    final K key;
    final Sampler.Job job;
    final Sampler.Output prompt;
    final float[] lastLogits; // [V] after the prompt
    final List<Row<K>> samples = new ArrayList<>();
    KvCache prefilled; // until it joins
    int running;

    Member(K key, Sampler.Job job, Sampler.Output prompt, KvCache prefilled, float[] lastLogits) {
      this.key = key;
      this.job = job;
      this.prompt = prompt;
      this.prefilled = prefilled;
      this.lastLogits = lastLogits;
    }

    Sampler.Output output() {
      List<Sampler.Sequence> sequences = new ArrayList<>(samples.size());
      for (Row<K> row : samples) {
        int[][] topIds = null;
        float[][] topLogprobs = null;
        if (row.top != null) {
          topIds = new int[row.size][];
          topLogprobs = new float[row.size][];
          for (int i = 0; i < row.size; i++) {
            topIds[i] = row.top[i].ids();
            topLogprobs[i] = row.top[i].logprobs();
          }
        }
        sequences.add(
            new Sampler.Sequence(
                Arrays.copyOf(row.tokens, row.size),
                Arrays.copyOf(row.logprobs, row.size),
                row.stopped,
                topIds,
                topLogprobs));
      }
      return new Sampler.Output(
          sequences, prompt.promptLogprobs(), prompt.topkIds(), prompt.topkLogprobs());
    }
  }

  /** One sample being decoded, behind {@code leftPad} pad slots of the cache. */
  private static final class Row<K> {
    final Member<K> member;
    final SplittableRandom rng;
    final int[] tokens;
    final float[] logprobs;
    final Distribution.Top[] top; // per position with topk_sample_logprobs, else null
    int leftPad;
    int size;
    boolean done;
    boolean stopped;

    Row(Member<K> member, long seed, int sample, int leftPad) {
      this.member = member;
      this.rng = new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * (sample + 1)));
      this.leftPad = leftPad;
      this.tokens = new int[member.job.request().maxTokens()];
      this.logprobs = new float[tokens.length];
      this.top =
          member.job.request().topkSampleLogprobs() > 0
              ? new Distribution.Top[tokens.length]
              : null;
    }

    Sampler.Request req() {
      return member.job.request();
    }

    int remaining() {
      return tokens.length - size;
    }

    void add(int token, float logprob) {
      tokens[size] = token;
      logprobs[size] = logprob;
      size++;
    }
  }
}
