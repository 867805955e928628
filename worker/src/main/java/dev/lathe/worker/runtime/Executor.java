package dev.lathe.worker.runtime;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.checkpoint.MergedExportRequest;
import dev.lathe.contracts.checkpoint.MergedExportResponse;
import dev.lathe.contracts.checkpoint.TinkerPath;
import dev.lathe.contracts.diagnostics.AdapterDiagnosticsRequest;
import dev.lathe.contracts.model.TensorData;
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
import dev.lathe.worker.cache.AdapterCache;
import dev.lathe.worker.diagnostics.AdapterDiagnostics;
import dev.lathe.worker.engine.ForwardBackward;
import dev.lathe.worker.engine.GradMode;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.optim.AdamW;
import dev.lathe.worker.store.MergedExport;
import dev.lathe.worker.store.PeftAdapter;
import dev.lathe.worker.store.Safetensors;
import dev.lathe.worker.store.Trees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import tools.jackson.databind.JsonNode;

/**
 * Runs one claimed request on the engine and returns its result as JSON. Live adapters stay in
 * memory; each optimizer step, creation and load writes a snapshot (PEFT files plus optimizer
 * state) before its future is marked done.
 */
final class Executor implements AutoCloseable {

  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Executor.class);

  static final String STATE = "lathe_state.json";
  static final Set<String> SNAPSHOTTING = Set.of("create_model", "optim_step", "load_weights");

  static final String GRADIENT = "gradient.safetensors";

  private final BaseModel base;
  private final NDManager manager;
  private final WorkerStore store;
  private final Path root;
  private final AdapterCache cache;
  private final Map<String, RunState> runs = new HashMap<>();
  private final Decoder decoder;
  private final AdapterDiagnostics adapterDiagnostics;

  /**
   * What a worker knows of a training run whose adapter it holds in memory (either tier): the loss
   * and tokens accumulated since its last step, the last forward_backward whose gradient the
   * adapter holds, and the seq_id and result of the request that wrote its latest snapshot.
   */
  private static final class RunState {
    double loss;
    long tokens;
    int appliedSeq = -1;
    int snapshotSeq = -1;
    JsonNode snapshotResult;
    boolean dirty; // the adapter is newer than the last snapshot handed to the snapshot thread
  }

  /** A run's resident adapter and its state. */
  private record Live(LoraAdapter adapter, RunState state) {}

  /** A request's result, the tokens it processed, and the optimizer step it took (or null). */
  record Outcome(Object result, int tokens, WorkerStore.StepRecord step) {

    Outcome(Object result, int tokens) {
      this(result, tokens, null);
    }
  }

  /** A request and what became of it: an outcome, or the error it failed with. */
  record Done(Claimed request, Outcome outcome, RuntimeException error) {

    Outcome outcomeOrThrow() {
      if (error != null) {
        throw error;
      }
      return outcome;
    }
  }

  /** Where time goes, by phase (the worker's metrics). */
  interface Phases {
    void add(String phase, long nanos);
  }

  private final Phases phases;

  /**
   * At most one snapshot a run this often (or every {@link Snapshots#CYCLES} clock cycles, if that
   * is longer): the cost of writing them, and the replay a crash costs, stay bounded whatever the
   * step rate.
   */
  static final Duration SNAPSHOT_INTERVAL = Duration.ofSeconds(1);

  private final Snapshots snapshots = new Snapshots(SNAPSHOT_INTERVAL);

  Executor(
      BaseModel base,
      NDManager manager,
      WorkerStore store,
      Path root,
      int adapterSlots,
      int hostAdapterSlots,
      int decodeRows,
      long decodeCacheBytes,
      Phases phases) {
    this.phases = phases;
    this.base = base;
    this.manager = manager;
    this.store = store;
    this.root = root;
    this.cache =
        new AdapterCache(
            adapterSlots, hostAdapterSlots, manager, DataType.FLOAT32, new StoreDisk());
    this.decoder = new Decoder(base, manager, store, decodeRows, decodeCacheBytes);
    this.adapterDiagnostics = new AdapterDiagnostics(base.config(), base.llama().weights());
  }

  /** A clock cycle's training part took {@code nanos}. */
  void cycleTook(long nanos) {
    snapshots.cycle(nanos);
  }

  /** Sampling: the continuous decode batch. */
  Decoder decoder() {
    return decoder;
  }

  /** Training runs whose adapters this worker holds in memory. */
  Set<String> inMemory() {
    return Set.copyOf(runs.keySet());
  }

  /**
   * Saves what a run's snapshot lacks and frees its memory; the run is marked unloaded until its
   * next request restores it.
   */
  void unloadIdle(String modelId) throws IOException, SQLException {
    cache.unload(modelId);
    runs.remove(modelId);
    store.setStatus(modelId, "unloaded");
  }

  AdapterCache.Stats cacheStats() {
    return cache.stats();
  }

  /** Resident adapter slots: the most training runs one fused batch may hold. */
  int adapterSlots() {
    return cache.slots();
  }

  /** Runs one request that is not batched: a barrier of a training run, or unload_model. */
  Outcome execute(Claimed r) throws SQLException, IOException {
    var json = WireJson.mapper();
    if (r.kind().equals("optim_step")) {
      return optimSteps(List.of(r)).getFirst().outcomeOrThrow();
    }
    Outcome applied = alreadyApplied(r);
    if (applied != null) {
      return applied;
    }
    return switch (r.kind()) {
      case "create_model" -> createModel(r);
      case "save_weights" -> saveWeights(r, json.treeToValue(r.body(), SaveWeightsRequest.class));
      case "save_weights_for_sampler" ->
          saveForSampler(r, json.treeToValue(r.body(), SaveWeightsForSamplerRequest.class));
      case "load_weights" -> loadWeights(r, json.treeToValue(r.body(), LoadWeightsRequest.class));
      case "unload_model" -> unload(r.modelId());
      case "optim_step", "forward", "forward_backward", "sample" ->
          throw new IllegalStateException(
              r.kind() + " runs in a batch: optimSteps(), fused() or the decoder");
      default -> throw new UserError("unknown request kind " + r.kind());
    };
  }

  /**
   * The outcome of a snapshotting request run again after a crash between writing its snapshot and
   * marking it done (the snapshot holds its effect already, and its result), or null if it has not
   * run; a user error for an older one.
   */
  private Outcome alreadyApplied(Claimed r) throws IOException {
    if (SNAPSHOTTING.contains(r.kind()) && r.seqId() != null) {
      Live l = liveOrSnapshot(r.modelId());
      if (l != null && r.seqId() <= l.state().snapshotSeq) {
        if (r.seqId() == l.state().snapshotSeq && l.state().snapshotResult != null) {
          return new Outcome(l.state().snapshotResult, 0);
        }
        throw new UserError("seq_id " + r.seqId() + " was already applied");
      }
    }
    return null;
  }

  /**
   * optim_step requests of different runs, their adapters stepped together in fused AdamW updates:
   * one per as many runs as fit in memory at once (a swap-in for a later one would evict an adapter
   * of the group). A request that cannot run fails alone.
   */
  List<Done> optimSteps(List<Claimed> requests) {
    int slots = adapterSlots();
    List<Done> done = new ArrayList<>(requests.size());
    for (int from = 0; from < requests.size(); from += slots) {
      done.addAll(optimStepGroup(requests.subList(from, Math.min(requests.size(), from + slots))));
    }
    return done;
  }

  /** optim_step requests of at most {@link #adapterSlots()} runs, in one fused AdamW update. */
  private List<Done> optimStepGroup(List<Claimed> requests) {
    List<Done> done = new ArrayList<>(requests.size());
    List<Integer> stepping = new ArrayList<>();
    List<Live> lives = new ArrayList<>();
    List<AdamW.Params> params = new ArrayList<>();
    for (Claimed r : requests) {
      done.add(null);
      try {
        Outcome applied = alreadyApplied(r);
        if (applied != null) {
          done.set(done.size() - 1, new Done(r, applied, null));
          continue;
        }
        OptimStepRequest req = WireJson.mapper().treeToValue(r.body(), OptimStepRequest.class);
        params.add(adam(req.adamParams()));
        lives.add(adapter(r.modelId()));
        stepping.add(done.size() - 1);
      } catch (RuntimeException | SQLException | IOException e) {
        done.set(done.size() - 1, new Done(r, null, asRuntime(e)));
      }
    }
    if (stepping.isEmpty()) {
      return done;
    }
    long t0 = System.nanoTime();
    List<AdamW.Result> results;
    try {
      results = AdamW.step(lives.stream().map(Live::adapter).toList(), params);
    } catch (RuntimeException e) {
      stepping.forEach(k -> done.set(k, new Done(requests.get(k), null, e)));
      return done;
    } finally {
      phases.add("optimizer", System.nanoTime() - t0);
    }
    for (int k = 0; k < stepping.size(); k++) {
      Claimed r = requests.get(stepping.get(k));
      try {
        done.set(stepping.get(k), new Done(r, stepOutcome(r, lives.get(k), results.get(k)), null));
      } catch (RuntimeException | SQLException | IOException e) {
        done.set(stepping.get(k), new Done(r, null, asRuntime(e)));
      }
    }
    return done;
  }

  /**
   * An adapter_diagnostics request, checked here (the checkpoint must be the tenant's) and returned
   * as the work to do off the clock cycle: it reads the checkpoint's files and the frozen base
   * weights only, and may take seconds on a large model.
   */
  java.util.concurrent.Callable<Outcome> diagnostics(Claimed r) throws SQLException, IOException {
    AdapterDiagnosticsRequest req =
        WireJson.mapper().treeToValue(r.body(), AdapterDiagnosticsRequest.class);
    int topK = req.topK() == null ? AdapterDiagnosticsRequest.DEFAULT_TOP_K : req.topK();
    double threshold =
        req.intruderThreshold() == null
            ? AdapterDiagnosticsRequest.DEFAULT_THRESHOLD
            : req.intruderThreshold();
    if (req.modelPath() == null) {
      // The run's adapter as it stands now, copied to host memory: the run trains on meanwhile.
      LoraAdapter live = adapter(req.modelId()).adapter();
      LoraSpec spec = live.spec();
      Map<String, float[]> tensors = AdapterDiagnostics.tensors(live);
      return () -> diagnosed(req.modelPath(), req.modelId(), spec, tensors, topK, threshold);
    }
    Path dir = Path.of(checkpoint(r.tenantId(), req.modelPath()).storagePath());
    return () -> {
      GradMode.off();
      LoraSpec spec;
      Map<String, float[]> tensors;
      try (NDManager m = manager.newSubManager();
          LoraAdapter saved = PeftAdapter.load(dir, base.config(), m, DataType.FLOAT32, false)) {
        spec = saved.spec();
        tensors = AdapterDiagnostics.tensors(saved);
      } catch (IllegalArgumentException e) {
        throw new UserError("model_path: " + e.getMessage());
      }
      return diagnosed(req.modelPath(), null, spec, tensors, topK, threshold);
    };
  }

  /**
   * A merged_export request, checked here (the checkpoint must be the tenant's) and returned as the
   * work to do off the clock cycle: base + adapter written as one Hugging Face model directory
   * inside the checkpoint's (so that it goes with it), whose bytes then count in the checkpoint's
   * size. It reads the frozen base weights and the checkpoint's files only.
   */
  java.util.concurrent.Callable<Outcome> mergedExport(Claimed r) throws SQLException {
    MergedExportRequest req = WireJson.mapper().treeToValue(r.body(), MergedExportRequest.class);
    WorkerStore.Checkpoint ckpt = checkpoint(r.tenantId(), req.modelPath());
    return () -> {
      GradMode.off();
      Path dir =
          Trees.current(Path.of(ckpt.storagePath()))
              .orElseThrow(() -> new UserError("model_path " + req.modelPath() + " has no files"));
      Path target = dir.resolve(MergedExportResponse.DIRECTORY);
      try (NDManager m = manager.newSubManager();
          LoraAdapter saved = PeftAdapter.load(dir, base.config(), m, DataType.FLOAT32, false)) {
        Path tmp = Trees.staging(target);
        try {
          MergedExport.write(base, saved, tmp);
          Trees.replace(tmp, target);
        } finally {
          Trees.delete(tmp);
        }
      } catch (IllegalArgumentException e) {
        throw new UserError("model_path: " + e.getMessage());
      } catch (IOException e) {
        throw new StorageError(e);
      }
      List<String> files;
      try (Stream<Path> list = Files.list(target)) {
        files = list.map(f -> f.getFileName().toString()).sorted().toList();
      }
      store.checkpointSize(ckpt, size(dir));
      return new Outcome(new MergedExportResponse(req.modelPath(), files, size(target)), 0);
    };
  }

  private Outcome diagnosed(
      String modelPath,
      String modelId,
      LoraSpec spec,
      Map<String, float[]> tensors,
      int topK,
      double threshold) {
    return new Outcome(
        adapterDiagnostics.of(modelPath, modelId, base.name(), spec, tensors, topK, threshold), 0);
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
            1.0,
            config.dora());
    LoraAdapter adapter = LoraAdapter.create(base.llama(), spec, manager, DataType.FLOAT32);
    Live l = replaceLive(r.modelId(), adapter);
    return snapshot(run, l, r.seqId(), new CreateModelResponse(r.modelId()));
  }

  /**
   * Runs forward and forward_backward requests of any runs as one fused batch (at most {@link
   * #adapterSlots()} runs). A request that cannot run fails alone; the others still run.
   */
  List<Done> fused(List<Claimed> requests) {
    List<Done> done = new ArrayList<>(requests.size());
    List<ForwardBackward.Job> jobs = new ArrayList<>();
    List<Integer> jobOf = new ArrayList<>();
    List<Live> lives = new ArrayList<>();
    for (Claimed r : requests) {
      done.add(null);
      try {
        boolean backward = r.kind().equals("forward_backward");
        ForwardBackwardInput in =
            backward
                ? WireJson.mapper()
                    .treeToValue(r.body(), ForwardBackwardRequest.class)
                    .forwardBackwardInput()
                : WireJson.mapper().treeToValue(r.body(), ForwardRequest.class).forwardInput();
        Live l = adapter(r.modelId());
        jobs.add(job(l.adapter(), in, backward));
        lives.add(l);
        jobOf.add(done.size() - 1);
      } catch (RuntimeException | SQLException | IOException e) {
        done.set(done.size() - 1, new Done(r, null, asRuntime(e)));
      }
    }
    if (!jobs.isEmpty()) {
      try {
        long t0 = System.nanoTime();
        List<ForwardBackward.Result> results = ForwardBackward.run(base.llama(), jobs, manager);
        phases.add("engine", System.nanoTime() - t0); // the part of "fused" in the engine
        for (int k = 0; k < jobs.size(); k++) {
          Claimed r = requests.get(jobOf.get(k));
          if (jobs.get(k).backward()) {
            lives.get(k).state().appliedSeq = r.seqId();
          }
          done.set(
              jobOf.get(k),
              new Done(r, outcome(r, lives.get(k), jobs.get(k), results.get(k)), null));
        }
      } catch (RuntimeException e) {
        for (int k : jobOf) {
          done.set(k, new Done(requests.get(k), null, e));
        }
      }
    }
    return done;
  }

  private ForwardBackward.Job job(LoraAdapter adapter, ForwardBackwardInput in, boolean backward) {
    if (in == null || in.lossFn() == null) {
      throw new UserError("loss_fn is required");
    }
    LossFn loss = LossFn.valueOf(in.lossFn().name());
    List<ForwardBackward.Example> examples =
        Inputs.examples(in.data(), loss, base.config().vocabSize());
    Map<String, Double> config =
        new HashMap<>(in.lossFnConfig() == null ? Map.of() : in.lossFnConfig());
    Double kl = config.remove(ForwardBackwardInput.KL_FROM_BASE); // not the loss's
    try {
      return new ForwardBackward.Job(
          adapter, examples, loss, config, backward, kl != null && kl != 0);
    } catch (IllegalArgumentException e) {
      throw new UserError(e.getMessage());
    }
  }

  /** A forward_backward's loss and tokens, counted toward its run's next step. */
  private static void account(Live l, ForwardBackward.Job job, ForwardBackward.Result result) {
    if (job.backward()) {
      l.state().loss += result.loss();
      l.state().tokens += result.tokens();
    }
  }

  private static Outcome outcome(
      Claimed r, Live l, ForwardBackward.Job job, ForwardBackward.Result result) {
    account(l, job, result);
    List<Map<String, TensorData>> outputs = new ArrayList<>(result.logprobs().size());
    Map<String, Double> metrics = new LinkedHashMap<>();
    metrics.put("loss:sum", result.loss());
    double klSum = 0;
    for (int i = 0; i < result.logprobs().size(); i++) {
      Map<String, TensorData> out = new LinkedHashMap<>();
      out.put("logprobs", TensorData.ofFloats(result.logprobs().get(i)));
      if (result.kl() != null) {
        float[] kl = result.kl().get(i);
        out.put(ForwardBackwardInput.KL_FROM_BASE, TensorData.ofFloats(kl));
        for (float v : kl) {
          klSum += v;
        }
      }
      outputs.add(out);
    }
    WorkerStore.Probe probe = null;
    if (result.kl() != null) {
      double mean = result.tokens() == 0 ? 0 : klSum / result.tokens();
      metrics.put(ForwardBackwardInput.KL_FROM_BASE + ":sum", klSum);
      metrics.put(ForwardBackwardInput.KL_FROM_BASE + ":mean", mean);
      probe = new WorkerStore.Probe(r.modelId(), l.adapter().step(), klSum, result.tokens());
    }
    return new Outcome(
        new ForwardBackwardOutput("ArrayRecord", outputs, metrics), (int) result.tokens(), probe);
  }

  static RuntimeException asRuntime(Exception e) {
    return e instanceof RuntimeException r ? r : new IllegalStateException(e);
  }

  private static AdamW.Params adam(AdamParams p) {
    AdamParams a = p == null ? AdamParams.ofLearningRate(1e-4) : p;
    return new AdamW.Params(
        a.learningRate(), a.beta1(), a.beta2(), a.eps(), a.weightDecay(), a.gradClipNorm());
  }

  /** What an optim_step that took step {@code r} of the run's adapter returns and records. */
  private Outcome stepOutcome(Claimed req, Live l, AdamW.Result r)
      throws SQLException, IOException {
    String modelId = req.modelId();
    Map<String, Double> metrics = new LinkedHashMap<>();
    metrics.put("grad_norm:mean", r.gradNorm());
    metrics.put("learning_rate:mean", r.learningRate());
    metrics.put("step:max", (double) r.step());
    Outcome out = snapshotLater(run(modelId), l, req.seqId(), new OptimStepResponse(metrics));
    RunState st = l.state();
    WorkerStore.Step step =
        new WorkerStore.Step(
            modelId,
            r.step(),
            st.tokens == 0 ? Double.NaN : st.loss,
            r.gradNorm(),
            r.learningRate(),
            st.tokens);
    st.loss = 0;
    st.tokens = 0;
    return new Outcome(out.result(), 0, step);
  }

  private Outcome saveWeights(Claimed r, SaveWeightsRequest req) throws SQLException, IOException {
    WorkerStore.Run run = run(r.modelId());
    String name = name(req.path(), "weights", run);
    if (!req.overwrite() && store.checkpointExists(run.id(), "weights", name)) {
      throw new UserError(
          "checkpoint weights/" + name + " exists; pass overwrite=true to replace it");
    }
    Path dir = checkpointDir(run, "weights", name);
    save(adapter(r.modelId()).adapter(), run.baseModel(), dir, true);
    store.saveCheckpoint(run, "weights", name, dir.toString(), size(dir), req.ttlSeconds());
    return new Outcome(SaveWeightsResponse.of(tinkerPath(run.id(), "weights", name)), 0);
  }

  /** Writes a checkpoint; a store that refuses the write fails the request, and only it. */
  private static void save(LoraAdapter adapter, String baseModel, Path dir, boolean optimizer) {
    try {
      PeftAdapter.save(adapter, baseModel, dir, optimizer);
    } catch (IOException e) {
      throw new StorageError(e);
    }
  }

  private Outcome saveForSampler(Claimed r, SaveWeightsForSamplerRequest req)
      throws SQLException, IOException {
    WorkerStore.Run run = run(r.modelId());
    boolean ephemeral = req.path() == null && req.samplingSessionSeqId() != null;
    String name =
        ephemeral ? "session-" + req.samplingSessionSeqId() : name(req.path(), "sampler", run);
    Path dir = checkpointDir(run, "sampler_weights", name);
    save(adapter(r.modelId()).adapter(), run.baseModel(), dir, false);
    decoder.forget(dir.toString());
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
    Live l = replaceLive(r.modelId(), loaded);
    return snapshot(run, l, r.seqId(), LoadWeightsResponse.of(req.path(), r.modelId()));
  }

  private Outcome unload(String modelId) throws SQLException {
    // Parameters change only with snapshots; accumulated gradients replay from the log.
    dropLive(modelId);
    store.setStatus(modelId, "unloaded");
    return new Outcome(new UnloadModelResponse(modelId), 0);
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
   * The run's adapter, resident; swapped in from host memory or from disk if need be; or null
   * before create_model.
   */
  private Live liveOrSnapshot(String modelId) throws IOException {
    LoraAdapter a = cache.get(modelId);
    return a == null ? null : new Live(a, runs.get(modelId));
  }

  /** A new adapter for a run (created or loaded), replacing whatever it had. */
  private Live replaceLive(String modelId, LoraAdapter adapter) throws IOException {
    cache.put(modelId, adapter);
    RunState st = new RunState();
    runs.put(modelId, st);
    return new Live(adapter, st);
  }

  /**
   * The disk tier: a run's snapshot holds its parameters and optimizer state as of its last step;
   * what is not in it (the gradient accumulated since) is written beside it on the way out, and
   * after a crash is replayed from the forward_backward requests done since (they are
   * deterministic).
   */
  private final class StoreDisk implements AdapterCache.Disk {

    @Override
    public void spill(String id, LoraAdapter.Host adapter) throws IOException {
      snapshots.flush(id); // the gradient file is written against the snapshot on disk
      RunState st = runs.remove(id);
      WorkerStore.Run run;
      try {
        run = run(id);
      } catch (SQLException e) {
        throw new IOException(e);
      }
      Path file = snapshotDir(run).resolve(GRADIENT);
      if (st == null || st.appliedSeq <= st.snapshotSeq) {
        Files.deleteIfExists(file);
        return;
      }
      Map<String, String> meta = new LinkedHashMap<>();
      meta.put("snapshot_seq", Integer.toString(st.snapshotSeq));
      meta.put("applied_seq", Integer.toString(st.appliedSeq));
      meta.put("loss", Double.toString(st.loss));
      meta.put("tokens", Long.toString(st.tokens));
      try (NDManager m = manager.newSubManager()) {
        Map<String, NDArray> grads = new LinkedHashMap<>();
        for (LoraAdapter.HostPair p : adapter.pairs()) {
          for (var t : p.named().entrySet()) {
            grads.put(t.getKey(), m.create(t.getValue().grad(), new Shape(t.getValue().shape())));
          }
        }
        Path tmp = file.resolveSibling(GRADIENT + ".tmp");
        Safetensors.write(tmp, grads, meta);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      }
    }

    @Override
    public LoraAdapter restore(String id) throws IOException {
      snapshots.flush(id);
      WorkerStore.Run run;
      List<WorkerStore.Logged> replay;
      try {
        run = run(id);
      } catch (SQLException e) {
        throw new IOException(e);
      }
      Path snapshot = Trees.current(snapshotDir(run)).orElse(null);
      if (snapshot == null) {
        return null;
      }
      LoraAdapter adapter =
          PeftAdapter.load(snapshot, base.config(), manager, DataType.FLOAT32, true);
      RunState st = new RunState();
      JsonNode state = WireJson.mapper().readTree(snapshot.resolve(STATE).toFile());
      st.snapshotSeq = state.get("seq").asInt();
      st.snapshotResult = state.get("result");
      st.appliedSeq = st.snapshotSeq;
      Path gradient = snapshot.resolve(GRADIENT);
      if (Files.isRegularFile(gradient)) {
        Safetensors.File f = Safetensors.open(gradient);
        if (Integer.toString(st.snapshotSeq).equals(f.metadata().get("snapshot_seq"))) {
          try (NDManager tmp = manager.newSubManager()) {
            Map<String, NDArray> grads = new HashMap<>();
            for (LoraAdapter.Param p : adapter.parameters()) {
              grads.put(
                  p.name(),
                  f.load(tmp, p.name(), DataType.FLOAT32, p.value().getShape().getShape()));
            }
            adapter.addGradients(grads);
          }
          st.appliedSeq = Integer.parseInt(f.metadata().get("applied_seq"));
          st.loss = Double.parseDouble(f.metadata().get("loss"));
          st.tokens = Long.parseLong(f.metadata().get("tokens"));
        }
      }
      try {
        replay = store.doneTrainingSteps(id, st.appliedSeq);
      } catch (SQLException e) {
        adapter.close();
        throw new IOException(e);
      }
      Live l = new Live(adapter, st);
      WorkerStore.Logged lastStep = null;
      for (WorkerStore.Logged logged : replay) {
        if (logged.kind().equals("optim_step")) {
          AdamW.step(
              adapter,
              adam(
                  WireJson.mapper()
                      .treeToValue(logged.body(), OptimStepRequest.class)
                      .adamParams()));
          st.loss = 0;
          st.tokens = 0;
          lastStep = logged;
        } else {
          ForwardBackwardRequest req =
              WireJson.mapper().treeToValue(logged.body(), ForwardBackwardRequest.class);
          ForwardBackward.Job job = job(adapter, req.forwardBackwardInput(), true);
          account(l, job, ForwardBackward.run(base.llama(), List.of(job), manager).getFirst());
        }
        st.appliedSeq = logged.seqId();
      }
      if (lastStep != null) {
        // Steps whose snapshots died with their worker: on disk now, so that the snapshot and the
        // gradient spilled beside it always agree. Should the store refuse, a later restore
        // replays them again (a gradient file names the snapshot it belongs to).
        try {
          snapshot(run, l, lastStep.seqId(), lastStep.result());
        } catch (StorageError e) {
          log.warn("{}: the replayed steps' snapshot was not written: {}", id, e.getMessage());
        }
      }
      runs.put(id, st);
      if ("unloaded".equals(run.status())) {
        try {
          store.setStatus(id, "active");
        } catch (SQLException e) {
          throw new IOException(e);
        }
      }
      log.info(
          "{}: restored the snapshot of seq_id {} (step {}) with the gradient through seq_id {}, replayed {} forward_backward and optim_step",
          id,
          st.snapshotSeq,
          adapter.step(),
          st.appliedSeq,
          replay.size());
      return adapter;
    }
  }

  private WorkerStore.Run run(String modelId) throws SQLException {
    return store
        .run(modelId)
        .orElseThrow(() -> new UserError("model_id " + modelId + " not found"));
  }

  private WorkerStore.Checkpoint checkpoint(String tenantId, String path) throws SQLException {
    return checkpoint(store, tenantId, path);
  }

  /** A tenant's checkpoint by its tinker:// path; a user error if it is not theirs or not there. */
  static WorkerStore.Checkpoint checkpoint(WorkerStore store, String tenantId, String path)
      throws SQLException {
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
  /** The snapshot after {@code seq}, on disk before this returns. */
  private Outcome snapshot(WorkerStore.Run run, Live l, int seq, Object result) throws IOException {
    long t0 = System.nanoTime();
    stepped(l, seq, result);
    freeze(run, l);
    try {
      snapshots.flushOrThrow(run.id());
    } catch (IOException e) {
      throw new StorageError(e); // the failed write is written again (Snapshots.takeFailed)
    }
    phases.add("snapshot", System.nanoTime() - t0);
    return new Outcome(result, 0);
  }

  /**
   * The snapshot after {@code seq}, written on the snapshot thread when it is the run's turn: its
   * state is copied here at once if the run has no snapshot waiting, else later (the waiting one is
   * older; {@link #snapshotDirty}). Until it is on disk the step is recoverable by replay (see the
   * disk tier).
   */
  private Outcome snapshotLater(WorkerStore.Run run, Live l, int seq, Object result)
      throws IOException {
    long t0 = System.nanoTime();
    stepped(l, seq, result);
    if (!snapshots.waiting(run.id())) {
      freeze(run, l);
    }
    phases.add("snapshot", System.nanoTime() - t0);
    return new Outcome(result, 0);
  }

  private static void stepped(Live l, int seq, Object result) {
    l.state().snapshotSeq = seq;
    l.state().snapshotResult = WireJson.mapper().valueToTree(result);
    l.state().appliedSeq = Math.max(l.state().appliedSeq, seq);
    l.state().dirty = true;
  }

  /** Copies the run's state (three flat arrays) and hands it to the snapshot thread. */
  private void freeze(WorkerStore.Run run, Live l) throws IOException {
    RunState st = l.state();
    var state =
        WireJson.mapper()
            .createObjectNode()
            .put("seq", st.snapshotSeq)
            .set("result", st.snapshotResult);
    byte[] stateBytes = WireJson.mapper().writeValueAsBytes(state);
    LoraAdapter.Frozen frozen = l.adapter().freeze(manager);
    Path dir = snapshotDir(run);
    String baseModel = run.baseModel();
    String runId = run.id();
    int seq = st.snapshotSeq;
    snapshots.submit(
        runId,
        new Snapshots.Write() {
          @Override
          public void write() throws IOException {
            try (frozen) {
              PeftAdapter.save(frozen, baseModel, dir, Map.of(STATE, stateBytes));
            }
            try {
              store.snapshotWritten(runId, seq); // the log before it may go
            } catch (SQLException e) {
              throw new IOException("the snapshot's seq_id could not be recorded", e);
            }
          }

          @Override
          public void discard() {
            frozen.close();
          }
        });
    st.dirty = false;
  }

  /**
   * Hands the snapshot thread the state of every resident run that stepped since its last snapshot
   * was handed over (replacing a waiting older one): for when the worker is idle, and before it
   * closes.
   */
  void snapshotDirty() throws IOException, SQLException {
    for (String id : snapshots.takeFailed()) {
      RunState st = runs.get(id);
      if (st != null) {
        st.dirty = true; // its last write failed: written again from what it holds now
      }
    }
    for (var e : runs.entrySet()) {
      if (e.getValue().dirty && cache.isResident(e.getKey())) {
        freeze(run(e.getKey()), new Live(cache.get(e.getKey()), e.getValue()));
      }
    }
  }

  /** Snapshot writes that failed so far. */
  long snapshotFailures() {
    return snapshots.failures();
  }

  /** From now on snapshots are dropped, as if this worker died with them in flight (tests). */
  void holdSnapshots() {
    snapshots.hold();
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
    cache.remove(modelId);
    runs.remove(modelId);
  }

  @Override
  public void close() {
    try {
      snapshotDirty();
    } catch (IOException | SQLException | RuntimeException e) {
      log.warn("could not snapshot the runs that stepped last; a new worker replays them", e);
    }
    snapshots.close();
    cache.close();
    runs.clear();
    decoder.close();
  }
}
