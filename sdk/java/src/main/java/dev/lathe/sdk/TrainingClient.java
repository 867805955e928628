package dev.lathe.sdk;

import dev.lathe.contracts.diagnostics.AdapterDiagnosticsRequest;
import dev.lathe.contracts.diagnostics.AdapterDiagnosticsResponse;
import dev.lathe.contracts.future.RequestAccepted;
import dev.lathe.contracts.model.Datum;
import dev.lathe.contracts.model.TensorData;
import dev.lathe.contracts.training.AdamParams;
import dev.lathe.contracts.training.ForwardBackwardInput;
import dev.lathe.contracts.training.ForwardBackwardOutput;
import dev.lathe.contracts.training.ForwardBackwardRequest;
import dev.lathe.contracts.training.ForwardRequest;
import dev.lathe.contracts.training.LoadWeightsRequest;
import dev.lathe.contracts.training.LossFnType;
import dev.lathe.contracts.training.OptimStepRequest;
import dev.lathe.contracts.training.OptimStepResponse;
import dev.lathe.contracts.training.SaveWeightsForSamplerRequest;
import dev.lathe.contracts.training.SaveWeightsForSamplerResponse;
import dev.lathe.contracts.training.SaveWeightsRequest;
import dev.lathe.contracts.training.SaveWeightsResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * One LoRA training run. Calls are queued on the server in the order they are made (each carries
 * the next {@code seq_id}, which also makes a retried call the same request) and return at once;
 * their futures complete when the worker has run them.
 */
public final class TrainingClient {

  /** A loss computed on the caller's side from the per-token logprobs of a forward pass. */
  @FunctionalInterface
  public interface CustomLoss {

    /**
     * @param data the batch
     * @param logprobs per datum, the logprob of each target token
     * @return the loss, its gradient with respect to each logprob, and any metrics
     */
    Gradient apply(List<Datum> data, List<double[]> logprobs);
  }

  /** A custom loss's value and its gradient dL/dlogprob, one array per datum. */
  public record Gradient(double loss, List<double[]> dLossDLogprobs, Map<String, Double> metrics) {}

  private final ServiceClient service;
  private final Transport transport;
  private final String modelId;
  private int seq = 1;
  private int chunkSize = 1024;

  TrainingClient(ServiceClient service, Transport transport, String modelId) {
    this.service = service;
    this.transport = transport;
    this.modelId = modelId;
  }

  /** The training run's id (also its {@code model_id}). */
  public String modelId() {
    return modelId;
  }

  /** Datums per request; a bigger batch is sent as several requests and its results joined. */
  public TrainingClient chunkSize(int datums) {
    if (datums < 1) {
      throw new IllegalArgumentException("chunkSize must be at least 1");
    }
    this.chunkSize = datums;
    return this;
  }

  /** Logprobs and loss without gradients. */
  public CompletableFuture<ForwardBackwardOutput> forward(
      List<Datum> data, LossFnType loss, Map<String, Double> config) {
    return forward(data, loss, config, false);
  }

  /**
   * Logprobs and loss without gradients; with {@code klFromBase}, the forgetting probe: each
   * datum's output also holds {@code kl_from_base}, KL(adapter ‖ base model) of the next-token
   * distributions at each position, and the metrics {@code kl_from_base:sum} and {@code :mean} (per
   * token); the server keeps the mean per optimizer step for the dashboard.
   */
  public CompletableFuture<ForwardBackwardOutput> forward(
      List<Datum> data, LossFnType loss, Map<String, Double> config, boolean klFromBase) {
    Map<String, Double> sent = config;
    if (klFromBase) {
      sent = new LinkedHashMap<>(config == null ? Map.of() : config);
      sent.put(ForwardBackwardInput.KL_FROM_BASE, 1.0);
    }
    Map<String, Double> options = sent;
    return chunked(
        data,
        chunk ->
            send(
                "api/v1/forward",
                s -> new ForwardRequest(new ForwardBackwardInput(chunk, loss, options), modelId, s),
                ForwardBackwardOutput.class));
  }

  /** Adds the loss's gradient to the adapter; it applies at the next {@link #optimStep}. */
  public CompletableFuture<ForwardBackwardOutput> forwardBackward(
      List<Datum> data, LossFnType loss, Map<String, Double> config) {
    return chunked(
        data,
        chunk ->
            send(
                "api/v1/forward_backward",
                s ->
                    new ForwardBackwardRequest(
                        new ForwardBackwardInput(chunk, loss, config), modelId, s),
                ForwardBackwardOutput.class));
  }

  /**
   * Any loss of the per-token logprobs: a forward pass, then {@code loss} on this side, then a
   * forward_backward with cross_entropy weights −dL/dlogprob, so the adapter's gradient is dL/dθ.
   * Every datum needs {@code target_tokens}. The result's metrics hold {@code loss:custom}.
   */
  public CompletableFuture<ForwardBackwardOutput> forwardBackwardCustom(
      List<Datum> data, CustomLoss loss) {
    return forward(data, LossFnType.CROSS_ENTROPY, null)
        .thenCompose(
            out -> {
              List<double[]> lps = new ArrayList<>();
              for (var o : out.lossFnOutputs()) {
                lps.add(o.get("logprobs").denseValues());
              }
              Gradient g = loss.apply(data, lps);
              if (g.dLossDLogprobs().size() != data.size()) {
                throw new IllegalArgumentException(
                    "the custom loss returned gradients for "
                        + g.dLossDLogprobs().size()
                        + " of "
                        + data.size()
                        + " datums");
              }
              List<Datum> weighted = new ArrayList<>();
              for (int i = 0; i < data.size(); i++) {
                double[] grad = g.dLossDLogprobs().get(i);
                float[] w = new float[grad.length];
                for (int j = 0; j < grad.length; j++) {
                  w[j] = (float) -grad[j];
                }
                Datum d = data.get(i);
                weighted.add(
                    new Datum(
                        d.modelInput(),
                        Map.of(
                            "target_tokens", d.lossFnInputs().get("target_tokens"),
                            "weights", TensorData.ofFloats(w))));
              }
              return forwardBackward(weighted, LossFnType.CROSS_ENTROPY, null)
                  .thenApply(
                      fb -> {
                        Map<String, Double> metrics = new LinkedHashMap<>(fb.metrics());
                        metrics.putAll(g.metrics());
                        metrics.put("loss:custom", g.loss());
                        return new ForwardBackwardOutput(
                            fb.lossFnOutputType(), fb.lossFnOutputs(), metrics);
                      });
            });
  }

  /** One AdamW step with the accumulated gradients, which are then zeroed. */
  public CompletableFuture<OptimStepResponse> optimStep(AdamParams params) {
    AdamParams p = params == null ? AdamParams.ofLearningRate(1e-4) : params;
    if (!(p.learningRate() > 0) || Double.isInfinite(p.learningRate())) {
      throw new IllegalArgumentException("adam_params.learning_rate must be a positive number");
    }
    return send(
        "api/v1/optim_step", s -> new OptimStepRequest(p, modelId, s), OptimStepResponse.class);
  }

  /**
   * How far this run's adapter, as it stands (every step whose result came back is in it), moved
   * the base model: see {@link ServiceClient#adapterDiagnostics}.
   */
  public CompletableFuture<AdapterDiagnosticsResponse> adapterDiagnostics(
      Integer topK, Double intruderThreshold) {
    return service.diagnostics(
        new AdapterDiagnosticsRequest(null, modelId, topK, intruderThreshold));
  }

  /** A resumable checkpoint (weights and optimizer state); completes with its tinker:// path. */
  public CompletableFuture<String> saveState(String name) {
    return send(
            "api/v1/save_weights",
            s -> new SaveWeightsRequest(modelId, name, s, null, null),
            SaveWeightsResponse.class)
        .thenApply(SaveWeightsResponse::path);
  }

  /** Replaces the adapter (and, with {@code optimizer}, its AdamW state) by a checkpoint's. */
  public CompletableFuture<Void> loadState(String path, boolean optimizer) {
    return send(
            "api/v1/load_weights",
            s ->
                new LoadWeightsRequest(
                    modelId, s, null, null, null, null, path, optimizer, null, null),
            tools.jackson.databind.JsonNode.class)
        .thenApply(x -> null);
  }

  /** The adapter's weights for sampling; completes with the checkpoint's tinker:// path. */
  public CompletableFuture<String> saveWeightsForSampler(String name) {
    return send(
            "api/v1/save_weights_for_sampler",
            s -> new SaveWeightsForSamplerRequest(modelId, name, null, s, null),
            SaveWeightsForSamplerResponse.class)
        .thenApply(SaveWeightsForSamplerResponse::path);
  }

  /** Saves the weights for sampling and opens a sampling client on them. */
  public CompletableFuture<SamplingClient> saveWeightsAndGetSamplingClient(String name) {
    return saveWeightsForSampler(name).thenCompose(service::createSamplingClient);
  }

  private synchronized <T> CompletableFuture<T> send(
      String path, java.util.function.IntFunction<Object> body, Class<T> type) {
    // Sent in seq_id order: the HTTP call is made before the next seq_id is handed out.
    Object req = body.apply(seq++);
    RequestAccepted accepted;
    try {
      accepted = transport.call("POST", path, req, RequestAccepted.class).join();
    } catch (java.util.concurrent.CompletionException e) {
      return CompletableFuture.failedFuture(e.getCause());
    }
    return transport.result(accepted.requestId(), type);
  }

  private CompletableFuture<ForwardBackwardOutput> chunked(
      List<Datum> data, Function<List<Datum>, CompletableFuture<ForwardBackwardOutput>> call) {
    Validate.data(data);
    List<CompletableFuture<ForwardBackwardOutput>> parts = new ArrayList<>();
    for (int i = 0; i < data.size(); i += chunkSize) {
      parts.add(call.apply(data.subList(i, Math.min(data.size(), i + chunkSize))));
    }
    if (parts.size() == 1) {
      return parts.getFirst();
    }
    return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new))
        .thenApply(x -> merge(parts.stream().map(CompletableFuture::join).toList()));
  }

  /** Joins the chunks of one call: sums add up, means are weighted by each chunk's tokens. */
  private static ForwardBackwardOutput merge(List<ForwardBackwardOutput> parts) {
    List<Map<String, TensorData>> outputs = new ArrayList<>();
    Map<String, Double> metrics = new LinkedHashMap<>();
    long total = 0;
    for (ForwardBackwardOutput p : parts) {
      outputs.addAll(p.lossFnOutputs());
      long tokens =
          p.lossFnOutputs().stream().mapToLong(o -> o.get("logprobs").data().size()).sum();
      total += tokens;
      p.metrics()
          .forEach(
              (k, v) ->
                  metrics.merge(
                      k,
                      k.endsWith(":mean") ? v * tokens : v,
                      k.endsWith(":sum") || k.endsWith(":mean") ? Double::sum : (a, b) -> b));
    }
    long n = Math.max(total, 1);
    metrics.replaceAll((k, v) -> k.endsWith(":mean") ? v / n : v);
    return new ForwardBackwardOutput(parts.getFirst().lossFnOutputType(), outputs, metrics);
  }
}
