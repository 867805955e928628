package dev.lathe.api.training;

import static dev.lathe.contracts.training.ForwardBackwardInput.KL_FROM_BASE;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.config.LatheProperties;
import dev.lathe.api.future.Requests;
import dev.lathe.api.session.Sessions;
import dev.lathe.api.system.ServedModel;
import dev.lathe.api.tenant.TenantQuotas;
import dev.lathe.api.web.ApiException;
import dev.lathe.api.web.Check;
import dev.lathe.contracts.checkpoint.TinkerPath;
import dev.lathe.contracts.future.RequestAccepted;
import dev.lathe.contracts.model.Datum;
import dev.lathe.contracts.model.TensorData;
import dev.lathe.contracts.proto.ProtoCodec;
import dev.lathe.contracts.training.AdamParams;
import dev.lathe.contracts.training.CreateModelRequest;
import dev.lathe.contracts.training.ForwardBackwardInput;
import dev.lathe.contracts.training.ForwardBackwardRequest;
import dev.lathe.contracts.training.ForwardRequest;
import dev.lathe.contracts.training.GetInfoRequest;
import dev.lathe.contracts.training.GetInfoResponse;
import dev.lathe.contracts.training.LoadWeightsRequest;
import dev.lathe.contracts.training.LoraConfig;
import dev.lathe.contracts.training.LossFnType;
import dev.lathe.contracts.training.OptimStepRequest;
import dev.lathe.contracts.training.OptimizerConfig;
import dev.lathe.contracts.training.SaveWeightsForSamplerRequest;
import dev.lathe.contracts.training.SaveWeightsRequest;
import dev.lathe.contracts.training.UnloadModelRequest;
import dev.lathe.contracts.training.WeightsInfoRequest;
import dev.lathe.contracts.training.WeightsInfoResponse;
import dev.lathe.worker.loss.LossFn;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * Training calls. Each is checked here, field by field, then queued as a future that the worker
 * runs in seq_id order for its model.
 */
@RestController
@RequestMapping("/api/v1")
class TrainingController {

  static final int MAX_RANK = 512;
  static final Set<String> CONFIG_KEYS =
      Set.of("clip_low_threshold", "clip_high_threshold", "beta");

  private final Sessions sessions;
  private final TrainingRuns runs;
  private final Requests requests;
  private final ServedModel model;
  private final LatheProperties.Limits limits;
  private final TenantQuotas quotas;

  TrainingController(
      Sessions sessions,
      TrainingRuns runs,
      Requests requests,
      ServedModel model,
      LatheProperties props,
      TenantQuotas quotas) {
    this.quotas = quotas;
    this.sessions = sessions;
    this.runs = runs;
    this.requests = requests;
    this.model = model;
    this.limits = props.limits();
  }

  @PostMapping("/create_model")
  RequestAccepted createModel(Caller caller, @RequestBody CreateModelRequest req) {
    sessions.require(caller, req.sessionId(), "session_id");
    int seq = Check.range(req.modelSeqId(), 0, Integer.MAX_VALUE, "model_seq_id");
    model.require(req.baseModel(), "base_model");
    LoraConfig lora = Check.required(req.loraConfig(), "lora_config");
    Check.range(lora.rank(), 1, MAX_RANK, "lora_config.rank");
    adamw(req.optimizerConfig());
    String modelId = req.sessionId() + ":train:" + seq;
    if (runs.find(caller, modelId).isEmpty()) {
      quotas.allowNewAdapter(caller); // a retried create_model is not a new adapter
    }
    long seed = lora.seed() != null ? lora.seed() : modelId.hashCode();
    runs.create(
        caller, modelId, req.sessionId(), seq, model.name(), lora, seed, req.userMetadata());
    String id =
        requests.enqueue(
            caller, model.name(), "create_model", modelId, null, 0, req, "model_seq_id");
    return new RequestAccepted(id, modelId);
  }

  @PostMapping("/get_info")
  GetInfoResponse getInfo(Caller caller, @RequestBody GetInfoRequest req) {
    TrainingRuns.Run run = runs.require(caller, req.modelId());
    return GetInfoResponse.of(
        new GetInfoResponse.ModelData("llama", run.baseModel(), run.baseModel()),
        run.id(),
        run.rank(),
        run.baseModel());
  }

  @PostMapping("/unload_model")
  RequestAccepted unload(Caller caller, @RequestBody UnloadModelRequest req) {
    TrainingRuns.Run run = runs.require(caller, req.modelId());
    return queue(caller, run, "unload_model", null, req);
  }

  @PostMapping("/forward")
  RequestAccepted forward(Caller caller, @RequestBody ForwardRequest req) {
    TrainingRuns.Run run = runs.require(caller, req.modelId());
    int seq = seq(req.seqId());
    long tokens = input(req.forwardInput(), "forward_input");
    quotas.spendTokens(caller, tokens, "forward_input.data");
    return queue(caller, run, "forward", seq, req);
  }

  @PostMapping("/forward_backward")
  RequestAccepted forwardBackward(Caller caller, @RequestBody ForwardBackwardRequest req) {
    TrainingRuns.Run run = runs.require(caller, req.modelId());
    int seq = seq(req.seqId());
    long tokens = input(req.forwardBackwardInput(), "forward_backward_input");
    quotas.spendTokens(caller, tokens, "forward_backward_input.data");
    return queue(caller, run, "forward_backward", seq, req);
  }

  /**
   * The current SDK's {@code forward_backward}: a protobuf body (zstd-compressed when the client
   * config asks for it; {@code BodySizeFilter} decodes it), {@code forward_only} making it a {@code
   * forward}. Decoded into the JSON protocol's request, it is checked and queued the same way.
   */
  @PostMapping(value = "/forward_backward", consumes = ProtoCodec.MEDIA_TYPE)
  RequestAccepted forwardBackwardProto(Caller caller, @RequestBody byte[] body) {
    ProtoCodec.ForwardBackward call = ProtoCodec.decodeForwardBackward(body);
    return call.forwardOnly()
        ? forward(caller, new ForwardRequest(call.input(), call.modelId(), call.seqId()))
        : forwardBackward(
            caller, new ForwardBackwardRequest(call.input(), call.modelId(), call.seqId()));
  }

  @PostMapping("/optim_step")
  RequestAccepted optimStep(Caller caller, @RequestBody OptimStepRequest req) {
    TrainingRuns.Run run = runs.require(caller, req.modelId());
    int seq = seq(req.seqId());
    if (req.optimizerParams() != null) {
      throw ApiException.badRequest(
          "optimizer_params", "Lathe trains with AdamW only: send adam_params");
    }
    AdamParams a = Check.required(req.adamParams(), "adam_params");
    double lr = Check.finite(a.learningRate(), "adam_params.learning_rate");
    if (lr < 0 || lr > 10) {
      throw ApiException.badRequest("adam_params.learning_rate", "must be between 0 and 10");
    }
    for (var beta : Map.of("beta1", a.beta1(), "beta2", a.beta2()).entrySet()) {
      double b = Check.finite(beta.getValue(), "adam_params." + beta.getKey());
      if (b < 0 || b >= 1) {
        throw ApiException.badRequest("adam_params." + beta.getKey(), "must be in [0, 1)");
      }
    }
    if (Check.finite(a.eps(), "adam_params.eps") <= 0) {
      throw ApiException.badRequest("adam_params.eps", "must be positive");
    }
    if (Check.finite(a.weightDecay(), "adam_params.weight_decay") < 0) {
      throw ApiException.badRequest("adam_params.weight_decay", "must not be negative");
    }
    if (Check.finite(a.gradClipNorm(), "adam_params.grad_clip_norm") < 0) {
      throw ApiException.badRequest(
          "adam_params.grad_clip_norm", "must not be negative (0: no clipping)");
    }
    return queue(caller, run, "optim_step", seq, req);
  }

  @PostMapping("/save_weights")
  RequestAccepted saveWeights(Caller caller, @RequestBody SaveWeightsRequest req) {
    TrainingRuns.Run run = runs.require(caller, req.modelId());
    int seq = seq(req.seqId());
    name(req.path());
    Check.ttl(req.ttlSeconds());
    quotas.allowNewCheckpoint(caller, "path");
    return queue(caller, run, "save_weights", seq, req);
  }

  @PostMapping("/save_weights_for_sampler")
  RequestAccepted saveForSampler(Caller caller, @RequestBody SaveWeightsForSamplerRequest req) {
    TrainingRuns.Run run = runs.require(caller, req.modelId());
    int seq = seq(req.seqId());
    name(req.path());
    Check.ttl(req.ttlSeconds());
    if (req.path() == null && req.samplingSessionSeqId() == null) {
      throw ApiException.badRequest("path", "give a path or a sampling_session_seq_id");
    }
    if (req.kind() != null && !req.kind().equals("snapshot")) {
      throw ApiException.badRequest(
          "kind",
          "'"
              + req.kind()
              + "' is not supported: Lathe saves snapshot sampler weights (save again to update)");
    }
    if (req.samplingSessionSeqId() != null) {
      Check.range(req.samplingSessionSeqId(), 0, Integer.MAX_VALUE, "sampling_session_seq_id");
    }
    quotas.allowNewCheckpoint(caller, "path");
    return queue(caller, run, "save_weights_for_sampler", seq, req);
  }

  /**
   * Loads a checkpoint into a training run. The current SDK also creates a run this way ({@code
   * session_id} + {@code model_seq_id}, no {@code model_id}): the run takes the checkpoint's LoRA
   * configuration, and the load is its first request (seq_id 0).
   */
  @PostMapping("/load_weights")
  RequestAccepted loadWeights(Caller caller, @RequestBody LoadWeightsRequest req) {
    if (req.modelId() == null && req.sessionId() != null) {
      return createViaLoad(caller, req);
    }
    TrainingRuns.Run run = runs.require(caller, req.modelId());
    int seq = seq(req.seqId());
    adamw(req.optimizerConfig());
    TrainingRuns.Run source = source(caller, req.path(), "path");
    LoraConfig a = source.lora();
    LoraConfig b = run.lora();
    if (source.rank() != run.rank()
        || !a.trainAttn().equals(b.trainAttn())
        || !a.trainMlp().equals(b.trainMlp())
        || !a.trainUnembed().equals(b.trainUnembed())
        || a.dora() != b.dora()) {
      throw ApiException.badRequest(
          "path",
          "the checkpoint's LoRA configuration (rank "
              + source.rank()
              + (a.dora() ? ", DoRA" : "")
              + ") differs from this model's");
    }
    return queue(caller, run, "load_weights", seq, req);
  }

  private RequestAccepted createViaLoad(Caller caller, LoadWeightsRequest req) {
    sessions.require(caller, req.sessionId(), "session_id");
    int seq = Check.range(req.modelSeqId(), 0, Integer.MAX_VALUE, "model_seq_id");
    if (req.baseModel() != null) {
      model.require(req.baseModel(), "base_model");
    }
    adamw(req.optimizerConfig());
    TrainingRuns.Run source = source(caller, req.path(), "path");
    if (!source.baseModel().equals(model.name())) {
      throw ApiException.badRequest(
          "path",
          "the checkpoint is of " + source.baseModel() + "; this server trains " + model.name());
    }
    String modelId = req.sessionId() + ":train:" + seq;
    if (runs.find(caller, modelId).isEmpty()) {
      quotas.allowNewAdapter(caller);
    }
    runs.create(
        caller,
        modelId,
        req.sessionId(),
        seq,
        model.name(),
        source.lora(),
        modelId.hashCode(),
        req.userMetadata());
    String id =
        requests.enqueue(
            caller, model.name(), "load_weights", modelId, null, 0, req, "model_seq_id");
    return new RequestAccepted(id, modelId);
  }

  /** The training run a checkpoint path (in {@code field}) belongs to; 404 if not the caller's. */
  private TrainingRuns.Run source(Caller caller, String text, String field) {
    TinkerPath path = path(text, field);
    return runs.byCheckpoint(caller, path).orElseThrow(() -> ApiException.notFound(field, text));
  }

  @PostMapping("/weights_info")
  WeightsInfoResponse weightsInfo(Caller caller, @RequestBody WeightsInfoRequest req) {
    TrainingRuns.Run run = source(caller, req.tinkerPath(), "tinker_path");
    return new WeightsInfoResponse(
        run.baseModel(),
        true,
        run.rank(),
        run.lora().trainUnembed(),
        run.lora().trainMlp(),
        run.lora().trainAttn());
  }

  /** Validates a forward or forward_backward input; returns its tokens. */
  private long input(ForwardBackwardInput in, String field) {
    Check.required(in, field);
    LossFnType loss = Check.required(in.lossFn(), field + ".loss_fn");
    List<Datum> data = in.data();
    if (data.isEmpty()) {
      throw ApiException.badRequest(field + ".data", "must hold at least one datum");
    }
    if (data.size() > limits.maxDatums()) {
      throw ApiException.badRequest(
          field + ".data", "at most " + limits.maxDatums() + " datums per call");
    }
    long total = 0;
    for (int d = 0; d < data.size(); d++) {
      String at = field + ".data[" + d + "]";
      Datum datum = Check.required(data.get(d), at);
      int tokens = Check.tokens(datum.modelInput(), model.vocabSize(), at + ".model_input");
      if (tokens > model.maxContextLength()) {
        throw ApiException.badRequest(
            at + ".model_input",
            tokens + " tokens exceed the context of " + model.maxContextLength());
      }
      total += tokens;
      for (var e : datum.lossFnInputs().entrySet()) {
        tensor(
            e.getValue(),
            tokens,
            at + ".loss_fn_inputs." + e.getKey(),
            e.getKey().equals("target_tokens"));
      }
      for (String required : LossFn.valueOf(loss.name()).requiredInputs()) {
        if (!datum.lossFnInputs().containsKey(required)) {
          throw ApiException.badRequest(
              at + ".loss_fn_inputs." + required, "is required by this loss_fn");
        }
      }
    }
    Double kl = in.lossFnConfig() == null ? null : in.lossFnConfig().get(KL_FROM_BASE);
    String klField = field + ".loss_fn_config." + KL_FROM_BASE;
    if (kl != null && !field.equals("forward_input")) {
      throw ApiException.badRequest(klField, "is measured by forward only, not forward_backward");
    }
    if (kl != null && kl != 0 && kl != 1) {
      throw ApiException.badRequest(klField, "must be 0 or 1");
    }
    // The forgetting probe runs every datum twice: on the adapter and on the base model.
    long counted = kl != null && kl == 1 ? 2 * total : total;
    if (counted > limits.maxTokensPerRequest()) {
      throw ApiException.badRequest(
          field + ".data",
          (counted == total
                  ? total + " tokens"
                  : total + " tokens, twice with " + KL_FROM_BASE + ",")
              + " exceed the limit of "
              + limits.maxTokensPerRequest()
              + " per call");
    }
    if (in.lossFnConfig() != null) {
      for (var e : in.lossFnConfig().entrySet()) {
        if (!CONFIG_KEYS.contains(e.getKey()) && !e.getKey().equals(KL_FROM_BASE)) {
          throw ApiException.badRequest(
              field + ".loss_fn_config." + e.getKey(), "is not a known option");
        }
        Check.finite(e.getValue(), field + ".loss_fn_config." + e.getKey());
      }
    }
    if (loss == LossFnType.DRO
        && (in.lossFnConfig() == null || !in.lossFnConfig().containsKey("beta"))) {
      throw ApiException.badRequest(field + ".loss_fn_config.beta", "is required by dro");
    }
    return total;
  }

  private void tensor(TensorData t, int tokens, String field, boolean targets) {
    Check.required(t, field);
    Check.required(t.dtype(), field + ".dtype");
    double[] values;
    int[] shape;
    try {
      shape = t.denseShape();
      values = t.denseValues();
    } catch (IllegalArgumentException | ArithmeticException e) {
      throw ApiException.badRequest(field, e.getMessage());
    }
    if (shape.length != 1 || values.length != tokens) {
      throw ApiException.badRequest(
          field,
          "must hold one value per token ("
              + tokens
              + "), shape is "
              + java.util.Arrays.toString(shape));
    }
    for (int i = 0; i < values.length; i++) {
      double v = values[i];
      if (!Double.isFinite(v)) {
        throw ApiException.badRequest(field + "[" + i + "]", "must be a finite number");
      }
      if (targets && (v != Math.rint(v) || v < 0 || v >= model.vocabSize())) {
        throw ApiException.badRequest(
            field + "[" + i + "]", v + " is not a token id in [0, " + model.vocabSize() + ")");
      }
    }
  }

  /** The current SDK names the optimizer family; Lathe's is AdamW. */
  private static void adamw(OptimizerConfig config) {
    if (config != null && !OptimizerConfig.ADAMW.equals(config.type())) {
      throw ApiException.badRequest(
          "optimizer_config.type",
          "'" + config.type() + "' is not an optimizer Lathe trains with (adamw)");
    }
  }

  private static int seq(Integer seqId) {
    return Check.range(seqId, 1, Integer.MAX_VALUE, "seq_id");
  }

  private static void name(String path) {
    if (path != null && !TinkerPath.NAME.matcher(path).matches()) {
      throw ApiException.badRequest("path", "must be 1-128 letters, digits, '.', '_' or '-'");
    }
  }

  static TinkerPath path(String path, String field) {
    Check.required(path, field);
    try {
      return TinkerPath.parse(path);
    } catch (IllegalArgumentException e) {
      throw ApiException.badRequest(field, e.getMessage());
    }
  }

  /** Queues a call on its training run; a reused seq_id with another body is a 422. */
  private RequestAccepted queue(
      Caller caller, TrainingRuns.Run run, String kind, Integer seq, Object req) {
    String id =
        requests.enqueue(
            caller, run.baseModel(), kind, run.id(), null, seq, req, seq == null ? null : "seq_id");
    return new RequestAccepted(id, run.id());
  }
}
