package dev.lathe.worker.runtime;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.checkpoint.TinkerPath;
import dev.lathe.contracts.model.TensorData;
import dev.lathe.contracts.sampling.SampleRequest;
import dev.lathe.contracts.sampling.SampleResponse;
import dev.lathe.contracts.sampling.SampledSequence;
import dev.lathe.contracts.sampling.SamplingParams;
import dev.lathe.contracts.sampling.Stop;
import dev.lathe.contracts.sampling.StopReason;
import dev.lathe.contracts.sampling.TokenLogprob;
import dev.lathe.contracts.training.AdamParams;
import dev.lathe.contracts.training.CreateModelResponse;
import dev.lathe.contracts.training.ForwardBackwardInput;
import dev.lathe.contracts.training.ForwardBackwardOutput;
import dev.lathe.contracts.training.ForwardBackwardRequest;
import dev.lathe.contracts.training.ForwardRequest;
import dev.lathe.contracts.training.LoadWeightsRequest;
import dev.lathe.contracts.training.LoadWeightsResponse;
import dev.lathe.contracts.training.LoraConfig;
import dev.lathe.contracts.training.OptimStepRequest;
import dev.lathe.contracts.training.OptimStepResponse;
import dev.lathe.contracts.training.SaveWeightsForSamplerRequest;
import dev.lathe.contracts.training.SaveWeightsForSamplerResponse;
import dev.lathe.contracts.training.SaveWeightsRequest;
import dev.lathe.contracts.training.SaveWeightsResponse;
import dev.lathe.contracts.training.UnloadModelResponse;
import dev.lathe.worker.engine.ForwardBackward;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.model.llama.LoraHook;
import dev.lathe.worker.optim.AdamW;
import dev.lathe.worker.sampling.Sampler;
import dev.lathe.worker.store.PeftAdapter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Stream;
import tools.jackson.databind.JsonNode;

/**
 * Runs one claimed request on the engine and returns its result as JSON. Live adapters stay in
 * memory; each optimizer step, creation and load writes a snapshot (PEFT files plus optimizer
 * state) before its future is marked done.
 */
final class Executor implements AutoCloseable {

  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Executor.class);

  static final int DEFAULT_MAX_TOKENS = 256;
  static final String STATE = "lathe_state.json";
  static final java.util.Set<String> SNAPSHOTTING =
      java.util.Set.of("create_model", "optim_step", "load_weights");
  private static final int SAMPLER_CACHE = 8;

  private final BaseModel base;
  private final NDManager manager;
  private final WorkerStore store;
  private final Path root;
  private final Map<String, Live> live = new HashMap<>();
  private final Map<String, LoraAdapter> samplers =
      new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, LoraAdapter> eldest) {
          if (size() > SAMPLER_CACHE) {
            eldest.getValue().close();
            return true;
          }
          return false;
        }
      };

  /**
   * An adapter in training, with the loss and tokens accumulated since its last step, and the
   * seq_id and result of the request that wrote its latest snapshot.
   */
  private static final class Live {
    final LoraAdapter adapter;
    double loss;
    long tokens;
    int snapshotSeq = -1;
    JsonNode snapshotResult;

    Live(LoraAdapter adapter) {
      this.adapter = adapter;
    }
  }

  /** A request's result and the tokens it processed. */
  record Outcome(Object result, int tokens) {}

  Executor(BaseModel base, NDManager manager, WorkerStore store, Path root) {
    this.base = base;
    this.manager = manager;
    this.store = store;
    this.root = root;
  }

  Outcome execute(Claimed r) throws SQLException, IOException {
    var json = WireJson.mapper();
    if (SNAPSHOTTING.contains(r.kind()) && r.seqId() != null) {
      // Run again after a crash between writing its snapshot and marking it done: the snapshot
      // holds its effect already, and its result.
      Live l = liveOrSnapshot(r.modelId());
      if (l != null && r.seqId() <= l.snapshotSeq) {
        if (r.seqId() == l.snapshotSeq && l.snapshotResult != null) {
          return new Outcome(l.snapshotResult, 0);
        }
        throw new UserError("seq_id " + r.seqId() + " was already applied");
      }
    }
    return switch (r.kind()) {
      case "create_model" -> createModel(r);
      case "forward" -> {
        ForwardRequest req = json.treeToValue(r.body(), ForwardRequest.class);
        yield forwardBackward(r.modelId(), req.forwardInput(), false);
      }
      case "forward_backward" -> {
        ForwardBackwardRequest req = json.treeToValue(r.body(), ForwardBackwardRequest.class);
        yield forwardBackward(r.modelId(), req.forwardBackwardInput(), true);
      }
      case "optim_step" ->
          optimStep(r, json.treeToValue(r.body(), OptimStepRequest.class).adamParams());
      case "save_weights" -> saveWeights(r, json.treeToValue(r.body(), SaveWeightsRequest.class));
      case "save_weights_for_sampler" ->
          saveForSampler(r, json.treeToValue(r.body(), SaveWeightsForSamplerRequest.class));
      case "load_weights" -> loadWeights(r, json.treeToValue(r.body(), LoadWeightsRequest.class));
      case "unload_model" -> unload(r.modelId());
      case "sample" -> sample(r, json.treeToValue(r.body(), SampleRequest.class));
      default -> throw new UserError("unknown request kind " + r.kind());
    };
  }

  private Outcome createModel(Claimed r) throws SQLException, IOException {
    WorkerStore.Run run = run(r.modelId());
    LoraConfig config = WireJson.mapper().treeToValue(run.loraConfig(), LoraConfig.class);
    LoraSpec spec =
        new LoraSpec(
            config.rank(),
            LoraSpec.DEFAULT_ALPHA,
            run.seed(),
            LoraSpec.targets(config.trainAttn(), config.trainMlp(), config.trainUnembed()),
            false,
            1.0);
    dropLive(r.modelId());
    LoraAdapter adapter = LoraAdapter.create(base.config(), spec, manager, DataType.FLOAT32);
    Live l = new Live(adapter);
    live.put(r.modelId(), l);
    return snapshot(run, l, r.seqId(), new CreateModelResponse(r.modelId()));
  }

  private Outcome forwardBackward(String modelId, ForwardBackwardInput in, boolean backward)
      throws SQLException, IOException {
    if (in == null || in.lossFn() == null) {
      throw new UserError("loss_fn is required");
    }
    Live l = adapter(modelId);
    LossFn loss = LossFn.valueOf(in.lossFn().name());
    List<ForwardBackward.Example> examples =
        Inputs.examples(in.data(), loss, base.config().vocabSize());
    Map<String, Double> config = in.lossFnConfig() == null ? Map.of() : in.lossFnConfig();
    ForwardBackward.Result result;
    try {
      result =
          ForwardBackward.run(base.llama(), l.adapter, examples, loss, config, backward, manager);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    if (backward) {
      l.loss += result.loss();
      l.tokens += result.tokens();
    }
    List<Map<String, TensorData>> outputs = new ArrayList<>(result.logprobs().size());
    for (float[] lp : result.logprobs()) {
      outputs.add(Map.of("logprobs", TensorData.ofFloats(lp)));
    }
    return new Outcome(
        new ForwardBackwardOutput("ArrayRecord", outputs, Map.of("loss:sum", result.loss())),
        (int) result.tokens());
  }

  private Outcome optimStep(Claimed req, AdamParams p) throws SQLException, IOException {
    String modelId = req.modelId();
    Live l = adapter(modelId);
    AdamParams a = p == null ? AdamParams.ofLearningRate(1e-4) : p;
    AdamW.Result r =
        AdamW.step(
            l.adapter,
            new AdamW.Params(
                a.learningRate(),
                a.beta1(),
                a.beta2(),
                a.eps(),
                a.weightDecay(),
                a.gradClipNorm()));
    Map<String, Double> metrics = new LinkedHashMap<>();
    metrics.put("grad_norm:mean", r.gradNorm());
    metrics.put("learning_rate:mean", r.learningRate());
    metrics.put("step:max", (double) r.step());
    Outcome out = snapshot(run(modelId), l, req.seqId(), new OptimStepResponse(metrics));
    store.recordStep(
        modelId,
        r.step(),
        l.tokens == 0 ? Double.NaN : l.loss,
        r.gradNorm(),
        r.learningRate(),
        l.tokens);
    l.loss = 0;
    l.tokens = 0;
    return out;
  }

  private Outcome saveWeights(Claimed r, SaveWeightsRequest req) throws SQLException, IOException {
    WorkerStore.Run run = run(r.modelId());
    String name = name(req.path(), "weights", run);
    if (!req.overwrite() && store.checkpointExists(run.id(), "weights", name)) {
      throw new UserError(
          "checkpoint weights/" + name + " exists; pass overwrite=true to replace it");
    }
    Path dir = checkpointDir(run, "weights", name);
    PeftAdapter.save(adapter(r.modelId()).adapter, run.baseModel(), dir, true);
    store.saveCheckpoint(run, "weights", name, dir.toString(), size(dir), req.ttlSeconds());
    return new Outcome(SaveWeightsResponse.of(tinkerPath(run.id(), "weights", name)), 0);
  }

  private Outcome saveForSampler(Claimed r, SaveWeightsForSamplerRequest req)
      throws SQLException, IOException {
    WorkerStore.Run run = run(r.modelId());
    boolean ephemeral = req.path() == null && req.samplingSessionSeqId() != null;
    String name =
        ephemeral ? "session-" + req.samplingSessionSeqId() : name(req.path(), "sampler", run);
    Path dir = checkpointDir(run, "sampler_weights", name);
    PeftAdapter.save(adapter(r.modelId()).adapter, run.baseModel(), dir, false);
    samplers.remove(dir.toString());
    store.saveCheckpoint(run, "sampler_weights", name, dir.toString(), size(dir), req.ttlSeconds());
    String path = tinkerPath(run.id(), "sampler_weights", name);
    if (ephemeral) {
      return new Outcome(
          SaveWeightsForSamplerResponse.ofSamplingSession(
              store.samplingSession(run, req.samplingSessionSeqId(), path)),
          0);
    }
    return new Outcome(SaveWeightsForSamplerResponse.ofPath(path), 0);
  }

  private Outcome loadWeights(Claimed r, LoadWeightsRequest req) throws SQLException, IOException {
    WorkerStore.Run run = run(r.modelId());
    WorkerStore.Checkpoint ckpt = checkpoint(r.tenantId(), req.path());
    boolean optimizer = Boolean.TRUE.equals(req.optimizer());
    if (optimizer && !ckpt.kind().equals("weights")) {
      throw new UserError(
          "path: a sampler checkpoint has no optimizer state; pass optimizer=false");
    }
    LoraAdapter loaded;
    try {
      loaded =
          PeftAdapter.load(
              Path.of(ckpt.storagePath()), base.config(), manager, DataType.FLOAT32, optimizer);
    } catch (IllegalArgumentException e) {
      throw new UserError("path: " + e.getMessage());
    }
    dropLive(r.modelId());
    Live l = new Live(loaded);
    live.put(r.modelId(), l);
    return snapshot(run, l, r.seqId(), LoadWeightsResponse.of(req.path(), r.modelId()));
  }

  private Outcome unload(String modelId) throws SQLException {
    // Parameters change only with snapshots; accumulated gradients replay from the log.
    dropLive(modelId);
    store.setStatus(modelId, "unloaded");
    return new Outcome(new UnloadModelResponse(modelId), 0);
  }

  private Outcome sample(Claimed r, SampleRequest req) throws SQLException {
    String path = req.modelPath();
    if (req.samplingSessionId() != null) {
      path = store.samplingSessionPath(req.samplingSessionId()).orElse(null);
    }
    LoraHook hook = LoraHook.NONE;
    if (path != null) {
      WorkerStore.Checkpoint ckpt = checkpoint(r.tenantId(), path);
      LoraAdapter adapter = samplers.get(ckpt.storagePath());
      if (adapter == null) {
        try {
          adapter =
              PeftAdapter.load(
                  Path.of(ckpt.storagePath()), base.config(), manager, DataType.FLOAT32, false);
        } catch (IllegalArgumentException e) {
          throw new UserError("model_path: " + e.getMessage());
        }
        samplers.put(ckpt.storagePath(), adapter);
      }
      hook = adapter.hook();
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
    Sampler.Output out;
    try {
      out =
          Sampler.sample(
              base.llama(),
              hook,
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
                  req.topkPromptLogprobs()),
              manager);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
    List<SampledSequence> sequences = new ArrayList<>();
    int tokens = prompt.length;
    for (Sampler.Sequence s : out.sequences()) {
      List<Double> lps = new ArrayList<>(s.logprobs().length);
      for (float f : s.logprobs()) {
        lps.add((double) f);
      }
      sequences.add(
          new SampledSequence(s.stopped() ? StopReason.STOP : StopReason.LENGTH, s.tokens(), lps));
      tokens += s.tokens().length;
    }
    List<Double> promptLps = null;
    if (out.promptLogprobs() != null) {
      promptLps = new ArrayList<>();
      for (float f : out.promptLogprobs()) {
        promptLps.add(Float.isNaN(f) ? null : (double) f);
      }
    }
    List<List<TokenLogprob>> topk = null;
    if (out.topkIds() != null) {
      topk = new ArrayList<>();
      for (int i = 0; i < out.topkIds().length; i++) {
        if (i == 0) {
          topk.add(null);
          continue;
        }
        List<TokenLogprob> row = new ArrayList<>();
        for (int j = 0; j < out.topkIds()[i].length; j++) {
          row.add(new TokenLogprob(out.topkIds()[i][j], out.topkLogprobs()[i][j]));
        }
        topk.add(row);
      }
    }
    return new Outcome(new SampleResponse(sequences, promptLps, topk, 0), tokens);
  }

  private Predicate<int[]> containsAny(List<String> texts) {
    return tokens -> {
      String text = base.tokenizer().decode(tokens);
      return texts.stream().anyMatch(t -> !t.isEmpty() && text.contains(t));
    };
  }

  /** The live adapter of a run, loaded from its snapshot if this worker has not got it. */
  private Live adapter(String modelId) throws SQLException, IOException {
    Live l = liveOrSnapshot(modelId);
    if (l == null) {
      throw new IllegalStateException("training run " + modelId + " has no adapter snapshot");
    }
    return l;
  }

  /**
   * The live adapter; or the one restored from the run's snapshot, with the gradient of every
   * forward_backward done since replayed (they are deterministic); or null before create_model.
   */
  private Live liveOrSnapshot(String modelId) throws SQLException, IOException {
    Live l = live.get(modelId);
    if (l != null) {
      return l;
    }
    WorkerStore.Run run = run(modelId);
    Path snapshot = snapshotDir(run);
    if (!Files.isDirectory(snapshot)) {
      return null;
    }
    l = new Live(PeftAdapter.load(snapshot, base.config(), manager, DataType.FLOAT32, true));
    JsonNode state = WireJson.mapper().readTree(snapshot.resolve(STATE).toFile());
    l.snapshotSeq = state.get("seq").asInt();
    l.snapshotResult = state.get("result");
    live.put(modelId, l);
    List<JsonNode> replay = store.doneForwardBackwards(modelId, l.snapshotSeq);
    for (JsonNode body : replay) {
      ForwardBackwardRequest req =
          WireJson.mapper().treeToValue(body, ForwardBackwardRequest.class);
      forwardBackward(modelId, req.forwardBackwardInput(), true);
    }
    log.info(
        "{}: restored the snapshot of seq_id {} (step {}) and replayed {} forward_backward",
        modelId,
        l.snapshotSeq,
        l.adapter.step(),
        replay.size());
    return l;
  }

  private WorkerStore.Run run(String modelId) throws SQLException {
    return store
        .run(modelId)
        .orElseThrow(() -> new UserError("model_id " + modelId + " not found"));
  }

  private WorkerStore.Checkpoint checkpoint(String tenantId, String path) throws SQLException {
    TinkerPath p;
    try {
      p = TinkerPath.parse(path);
    } catch (IllegalArgumentException e) {
      throw new UserError("path " + e.getMessage());
    }
    return store
        .checkpoint(tenantId, p.trainingRunId(), p.kind(), p.name())
        .orElseThrow(() -> new UserError("path " + path + " not found"));
  }

  static String tinkerPath(String runId, String kind, String name) {
    return new TinkerPath(runId, kind, name).toString();
  }

  private static String name(String requested, String prefix, WorkerStore.Run run) {
    if (requested == null) {
      return String.format(Locale.ROOT, "%s-%06d", prefix, run.step());
    }
    if (!TinkerPath.NAME.matcher(requested).matches()) {
      throw new UserError("path must be 1-128 letters, digits, '.', '_' or '-', got " + requested);
    }
    return requested;
  }

  /**
   * Writes the adapter with its optimizer state, and the seq_id and result of the request that
   * changed it, before that request is marked done.
   */
  private Outcome snapshot(WorkerStore.Run run, Live l, int seq, Object result) throws IOException {
    JsonNode json = WireJson.mapper().valueToTree(result);
    var state = WireJson.mapper().createObjectNode().put("seq", seq).set("result", json);
    PeftAdapter.save(
        l.adapter,
        run.baseModel(),
        snapshotDir(run),
        true,
        Map.of(STATE, WireJson.mapper().writeValueAsBytes(state)));
    l.snapshotSeq = seq;
    l.snapshotResult = json;
    return new Outcome(result, 0);
  }

  private Path runDir(WorkerStore.Run run) {
    return root.resolve(safe(run.tenantId())).resolve(safe(run.id()));
  }

  private Path snapshotDir(WorkerStore.Run run) {
    return runDir(run).resolve("live");
  }

  private Path checkpointDir(WorkerStore.Run run, String kind, String name) {
    return runDir(run).resolve(kind).resolve(name);
  }

  static String safe(String id) {
    return id.replaceAll("[^A-Za-z0-9._-]", "_");
  }

  private static long size(Path dir) throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      long total = 0;
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        total += Files.size(f);
      }
      return total;
    }
  }

  private void dropLive(String modelId) {
    Live old = live.remove(modelId);
    if (old != null) {
      old.adapter.close();
    }
  }

  @Override
  public void close() {
    live.values().forEach(l -> l.adapter.close());
    live.clear();
    samplers.values().forEach(LoraAdapter::close);
    samplers.clear();
  }
}
