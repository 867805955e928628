package dev.lathe.worker.runtime;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.sampling.SampleRequest;
import dev.lathe.contracts.sampling.SampleResponse;
import dev.lathe.contracts.sampling.SampledSequence;
import dev.lathe.contracts.sampling.SamplingParams;
import dev.lathe.contracts.sampling.Stop;
import dev.lathe.contracts.sampling.StopReason;
import dev.lathe.contracts.sampling.TokenLogprob;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.sampling.DecodeBatch;
import dev.lathe.worker.sampling.Sampler;
import dev.lathe.worker.store.PeftAdapter;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The worker's sampling: one continuous decode batch that sample requests join at token boundaries
 * and leave when they end ({@link DecodeBatch}), and the sampler checkpoints it reads, kept loaded
 * (least recently used first out) and never closed while a request decodes from them.
 */
final class Decoder implements AutoCloseable {

  static final int DEFAULT_MAX_TOKENS = 256;

  /** Sampler checkpoints kept loaded when no request uses them. */
  private static final int KEEP_LOADED = 8;

  private final BaseModel base;
  private final NDManager manager;
  private final WorkerStore store;
  private final int maxRows;
  private final long maxCacheBytes;
  private final Map<String, LoraAdapter> loaded = new LinkedHashMap<>(16, 0.75f, true);
  private final List<LoraAdapter> retired = new ArrayList<>(); // replaced on disk, still in use
  private DecodeBatch<Admitted> batch;
  // The request that last did not fit, parsed (and its checkpoint loaded) once while it waits.
  private Claimed refused;
  private Sampler.Job refusedJob;

  /** A request in the batch, and its prompt's length (which its usage counts). */
  private record Admitted(Claimed request, int promptLength) {}

  /**
   * @param maxRows samples decoding together; requests join while fewer decode
   * @param maxCacheBytes the most the batch's KV cache may take; a request joins only if the cache
   *     with it stays within (a request alone always runs)
   */
  Decoder(BaseModel base, NDManager manager, WorkerStore store, int maxRows, long maxCacheBytes) {
    this.base = base;
    this.manager = manager;
    this.store = store;
    this.maxRows = maxRows;
    this.maxCacheBytes = maxCacheBytes;
    this.batch = new DecodeBatch<>(base.llama(), manager);
  }

  /** Samples decoding (or about to join). */
  int rows() {
    return batch.rows();
  }

  boolean hasRoom() {
    return batch.rows() < maxRows;
  }

  /**
   * Prefills a sample request's prompt; it joins the batch at the next step, unless the batch is
   * full (rows or cache bytes) for it now.
   *
   * @return whether it joins; if not, it may try again once requests have left
   * @throws UserError if the request is not valid (nothing joins then)
   */
  boolean admit(Claimed r) throws SQLException {
    Sampler.Job job = r == refused ? refusedJob : job(r);
    refused = null;
    refusedJob = null;
    try {
      batch.checkFits(job.request());
      boolean fits =
          batch.rows() + job.request().numSamples() <= maxRows
              && batch.cacheBytesWith(job.request()) <= maxCacheBytes;
      if (!fits && !batch.isEmpty()) {
        refused = r;
        refusedJob = job;
        return false;
      }
      batch.admit(new Admitted(r, job.request().prompt().length), job);
      return true;
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    } finally {
      release();
    }
  }

  /**
   * One token for every sample in the batch.
   *
   * @return the requests that ended with it; all of them, failed, if the step failed
   */
  List<Executor.Done> step() {
    List<Executor.Done> done = new ArrayList<>();
    try {
      for (DecodeBatch.Finished<Admitted> f : batch.step()) {
        Admitted a = f.key();
        done.add(new Executor.Done(a.request(), sampled(a.promptLength(), f.output()), null));
      }
    } catch (RuntimeException e) {
      // The batch's state is unknown now: every request in it fails, and a new batch starts.
      for (Admitted a : batch.keys()) {
        done.add(new Executor.Done(a.request(), null, e));
      }
      batch.close();
      batch = new DecodeBatch<>(base.llama(), manager);
    }
    release();
    return done;
  }

  /** A sampler checkpoint was written again: the next request loads it afresh. */
  void forget(String storagePath) {
    LoraAdapter old = loaded.remove(storagePath);
    if (old != null) {
      retired.add(old);
      release();
    }
  }

  /** Closes the checkpoints no request uses beyond the {@link #KEEP_LOADED} used last. */
  private void release() {
    Set<LoraAdapter> inUse = batch.adapters();
    if (refusedJob != null && refusedJob.adapter() != null) {
      inUse.add(refusedJob.adapter());
    }
    retired.removeIf(
        a -> {
          if (inUse.contains(a)) {
            return false;
          }
          a.close();
          return true;
        });
    for (Iterator<LoraAdapter> it = loaded.values().iterator();
        it.hasNext() && loaded.size() > KEEP_LOADED; ) {
      LoraAdapter a = it.next(); // least recently used first
      if (!inUse.contains(a)) {
        it.remove();
        a.close();
      }
    }
  }

  /** A sampling request as the sampler takes it: its adapter (null: base) and parameters. */
  private Sampler.Job job(Claimed r) throws SQLException {
    SampleRequest req = WireJson.mapper().treeToValue(r.body(), SampleRequest.class);
    String path = req.modelPath();
    if (req.samplingSessionId() != null) {
      path = store.samplingSessionPath(req.samplingSessionId()).orElse(null);
    }
    LoraAdapter adapter = null; // the base model
    if (path != null) {
      WorkerStore.Checkpoint ckpt = Executor.checkpoint(store, r.tenantId(), path);
      adapter = loaded.get(ckpt.storagePath());
      if (adapter == null) {
        try {
          adapter =
              PeftAdapter.load(
                  Path.of(ckpt.storagePath()), base.config(), manager, DataType.FLOAT32, false);
        } catch (IllegalArgumentException e) {
          throw new UserError("model_path: " + e.getMessage());
        }
        loaded.put(ckpt.storagePath(), adapter);
      }
    }
    SamplingParams p = req.samplingParams();
    if (p == null) {
      throw new UserError("sampling_params is required");
    }
    int[] prompt = Inputs.tokens(req.prompt(), base.config().vocabSize(), "prompt");
    int room = base.config().maxPositionEmbeddings() - prompt.length;
    int maxTokens = p.maxTokens() != null ? p.maxTokens() : Math.min(DEFAULT_MAX_TOKENS, room);
    List<int[]> stops = new ArrayList<>();
    Predicate<int[]> stopText = null;
    if (base.config().eosTokenId() != null) {
      stops.add(new int[] {base.config().eosTokenId()});
    }
    switch (p.stop()) {
      case null -> {}
      case Stop.Tokens t -> t.tokens().forEach(id -> stops.add(new int[] {id}));
      case Stop.Text t -> stopText = containsAny(List.of(t.text()));
      case Stop.Texts t -> stopText = containsAny(t.texts());
    }
    try {
      return new Sampler.Job(
          adapter,
          new Sampler.Request(
              prompt,
              req.numSamples(),
              maxTokens,
              p.temperature(),
              p.topK(),
              p.topP(),
              p.seed(),
              stops,
              stopText,
              Boolean.TRUE.equals(req.promptLogprobs()),
              req.topkPromptLogprobs(),
              req.topkSampleLogprobs() == null ? 0 : req.topkSampleLogprobs(),
              req.promptLogprobsLastN() == null ? 0 : req.promptLogprobsLastN()));
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
  }

  /** The sampler's output as the wire's response, and the tokens it took. */
  private static Executor.Outcome sampled(int promptLength, Sampler.Output out) {
    List<SampledSequence> sequences = new ArrayList<>();
    int tokens = promptLength;
    for (Sampler.Sequence s : out.sequences()) {
      List<Double> lps = new ArrayList<>(s.logprobs().length);
      for (float f : s.logprobs()) {
        lps.add((double) f);
      }
      sequences.add(
          new SampledSequence(
              s.stopped() ? StopReason.STOP : StopReason.LENGTH,
              s.tokens(),
              lps,
              s.topkIds() == null ? null : topk(s.topkIds(), s.topkLogprobs())));
      tokens += s.tokens().length;
    }
    List<Double> promptLps = null;
    if (out.promptLogprobs() != null) {
      promptLps = new ArrayList<>();
      for (float f : out.promptLogprobs()) {
        promptLps.add(Float.isNaN(f) ? null : (double) f);
      }
    }
    List<List<TokenLogprob>> topk =
        out.topkIds() == null ? null : topk(out.topkIds(), out.topkLogprobs());
    return new Executor.Outcome(new SampleResponse(sequences, promptLps, topk, 0), tokens);
  }

  /** Per position its (token, logprob) pairs; a position with none (nothing scored) is null. */
  private static List<List<TokenLogprob>> topk(int[][] ids, float[][] logprobs) {
    List<List<TokenLogprob>> out = new ArrayList<>(ids.length);
    for (int i = 0; i < ids.length; i++) {
      if (ids[i].length == 0) {
        out.add(null);
        continue;
      }
      List<TokenLogprob> row = new ArrayList<>(ids[i].length);
      for (int j = 0; j < ids[i].length; j++) {
        row.add(new TokenLogprob(ids[i][j], logprobs[i][j]));
      }
      out.add(row);
    }
    return out;
  }

  private Predicate<int[]> containsAny(List<String> texts) {
    return tokens -> {
      String text = base.tokenizer().decode(tokens);
      return texts.stream().anyMatch(t -> !t.isEmpty() && text.contains(t));
    };
  }

  @Override
  public void close() {
    batch.close();
    loaded.values().forEach(LoraAdapter::close);
    loaded.clear();
    retired.forEach(LoraAdapter::close);
    retired.clear();
  }
}
