package dev.lathe.sdk;

import dev.lathe.contracts.diagnostics.AdapterDiagnosticsRequest;
import dev.lathe.contracts.diagnostics.AdapterDiagnosticsResponse;
import dev.lathe.contracts.future.RequestAccepted;
import dev.lathe.contracts.sampling.CreateSamplingSessionRequest;
import dev.lathe.contracts.sampling.CreateSamplingSessionResponse;
import dev.lathe.contracts.session.CreateSessionRequest;
import dev.lathe.contracts.session.CreateSessionResponse;
import dev.lathe.contracts.session.SessionHeartbeatRequest;
import dev.lathe.contracts.system.ServerCapabilities;
import dev.lathe.contracts.training.CreateModelRequest;
import dev.lathe.contracts.training.CreateModelResponse;
import dev.lathe.contracts.training.LoraConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import tools.jackson.databind.JsonNode;

/**
 * The entry point: one session on a Lathe server, kept alive by a heartbeat until {@link #close()}.
 *
 * <pre>{@code
 * try (ServiceClient service = ServiceClient.builder("http://localhost:8080", apiKey).build()) {
 *   TrainingClient training = service.createLoraTrainingClient("lathe-tiny", LoraConfig.ofRank(16)).join();
 *   ...
 * }
 * }</pre>
 *
 * <p>Every call returns a {@link CompletableFuture}; failures complete it with a {@link
 * LatheException}.
 */
public final class ServiceClient implements AutoCloseable {

  /** Options of a {@link ServiceClient}. */
  public static final class Builder {
    private final URI baseUrl;
    private final String apiKey;
    private int maxRetries = 6;
    private Duration timeout = Duration.ofSeconds(60);
    private Duration heartbeat = Duration.ofSeconds(10);
    private List<String> tags = List.of();

    private Builder(String baseUrl, String apiKey) {
      this.baseUrl = URI.create(baseUrl.endsWith("/") ? baseUrl : baseUrl + "/");
      if (apiKey == null || !apiKey.startsWith("tml-")) {
        throw new IllegalArgumentException("apiKey must be a tenant key starting with tml-");
      }
      this.apiKey = apiKey;
    }

    /** Retries of a call on 408, 429, 5xx or a dropped connection (default 6). */
    public Builder maxRetries(int n) {
      if (n < 0) {
        throw new IllegalArgumentException("maxRetries must not be negative");
      }
      this.maxRetries = n;
      return this;
    }

    /** Time limit of one HTTP exchange (default 60 s; long-polls return well before). */
    public Builder timeout(Duration timeout) {
      this.timeout = Objects.requireNonNull(timeout);
      return this;
    }

    /** How often the session says it is alive (default 10 s). */
    public Builder heartbeat(Duration every) {
      this.heartbeat = Objects.requireNonNull(every);
      return this;
    }

    /** Tags stored with the session. */
    public Builder tags(List<String> tags) {
      this.tags = List.copyOf(tags);
      return this;
    }

    /** Connects and creates the session. */
    public ServiceClient build() {
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
      return new ServiceClient(new Transport(http, baseUrl, apiKey, maxRetries, timeout), this);
    }
  }

  /** A builder for a server at {@code baseUrl} (e.g. {@code http://localhost:8080}). */
  public static Builder builder(String baseUrl, String apiKey) {
    return new Builder(baseUrl, apiKey);
  }

  private final Transport transport;
  private final String sessionId;
  private final AtomicInteger modelSeq = new AtomicInteger();
  private final AtomicInteger samplingSeq = new AtomicInteger();
  private final ScheduledExecutorService heartbeat;

  private ServiceClient(Transport transport, Builder b) {
    this.transport = transport;
    this.sessionId =
        transport
            .call(
                "POST",
                "api/v1/create_session",
                new CreateSessionRequest(b.tags, Map.of(), "lathe-java/0.1.0", null, null),
                CreateSessionResponse.class)
            .join()
            .sessionId();
    this.heartbeat =
        Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().daemon(true).name("lathe-heartbeat").unstarted(r));
    long every = b.heartbeat.toMillis();
    heartbeat.scheduleAtFixedRate(
        () ->
            transport.call(
                "POST", "api/v1/session_heartbeat", new SessionHeartbeatRequest(sessionId)),
        every,
        every,
        TimeUnit.MILLISECONDS);
  }

  /** This client's session. */
  public String sessionId() {
    return sessionId;
  }

  /** The base models the server trains and samples. */
  public CompletableFuture<ServerCapabilities> capabilities() {
    return transport.call("GET", "api/v1/get_server_capabilities", null, ServerCapabilities.class);
  }

  /**
   * How far a saved adapter ({@code tinker://...}) moved its base model, per module and per layer
   * (a Lathe extension); {@code topK} and {@code intruderThreshold} may be null for the defaults
   * (10 and 0.5).
   */
  public CompletableFuture<AdapterDiagnosticsResponse> adapterDiagnostics(
      String modelPath, Integer topK, Double intruderThreshold) {
    Objects.requireNonNull(modelPath, "modelPath");
    return diagnostics(new AdapterDiagnosticsRequest(modelPath, null, topK, intruderThreshold));
  }

  CompletableFuture<AdapterDiagnosticsResponse> diagnostics(AdapterDiagnosticsRequest req) {
    return transport
        .call("POST", "api/v1/adapter_diagnostics", req, RequestAccepted.class)
        .thenCompose(a -> transport.result(a.requestId(), AdapterDiagnosticsResponse.class));
  }

  /** A new LoRA training run on {@code baseModel}; completes once its adapter exists. */
  public CompletableFuture<TrainingClient> createLoraTrainingClient(
      String baseModel, LoraConfig config) {
    Objects.requireNonNull(baseModel, "baseModel");
    CreateModelRequest req =
        new CreateModelRequest(
            sessionId, modelSeq.getAndIncrement(), baseModel, Map.of(), config, null);
    return transport
        .call("POST", "api/v1/create_model", req, RequestAccepted.class)
        .thenCompose(a -> transport.result(a.requestId(), CreateModelResponse.class))
        .thenApply(r -> new TrainingClient(this, transport, r.modelId()));
  }

  /** Samples from a saved sampler checkpoint ({@code tinker://...}). */
  public CompletableFuture<SamplingClient> createSamplingClient(String modelPath) {
    return samplingSession(null, Objects.requireNonNull(modelPath, "modelPath"));
  }

  /** Samples from the base model itself. */
  public CompletableFuture<SamplingClient> createBaseSamplingClient(String baseModel) {
    return samplingSession(Objects.requireNonNull(baseModel, "baseModel"), null);
  }

  private CompletableFuture<SamplingClient> samplingSession(String baseModel, String modelPath) {
    var req =
        new CreateSamplingSessionRequest(
            sessionId, samplingSeq.getAndIncrement(), baseModel, modelPath);
    return transport
        .call("POST", "api/v1/create_sampling_session", req, CreateSamplingSessionResponse.class)
        .thenApply(r -> new SamplingClient(transport, r.samplingSessionId()));
  }

  /** Training runs and checkpoints of this tenant. */
  /**
   * The base model's {@code tokenizer.json}, as the server has it: load it with any Hugging Face
   * tokenizers binding (e.g. DJL's {@code HuggingFaceTokenizer.newInstance(path)}), no hub needed.
   */
  public CompletableFuture<String> tokenizerJson(String baseModel) {
    return transport
        .call("GET", "api/v1/models/" + Transport.segment(baseModel) + "/tokenizer", null)
        .thenApply(JsonNode::toString);
  }

  /** The base model's chat template (Jinja), for models that have one. */
  public CompletableFuture<String> chatTemplate(String baseModel) {
    return transport
        .call("GET", "api/v1/models/" + Transport.segment(baseModel) + "/chat_template", null)
        .thenApply(j -> j.get("chat_template").asString());
  }

  public RestClient rest() {
    return new RestClient(transport);
  }

  /** Stops the heartbeat. Requests already accepted still run. */
  @Override
  public void close() {
    heartbeat.shutdownNow();
  }
}
