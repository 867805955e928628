package dev.lathe.contracts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.contracts.checkpoint.CheckpointArchiveUrlResponse;
import dev.lathe.contracts.checkpoint.CheckpointsListResponse;
import dev.lathe.contracts.checkpoint.TrainingRunsResponse;
import dev.lathe.contracts.future.FutureRetrieveRequest;
import dev.lathe.contracts.future.RequestAccepted;
import dev.lathe.contracts.future.RequestFailedResponse;
import dev.lathe.contracts.future.TryAgainResponse;
import dev.lathe.contracts.sampling.CreateSamplingSessionRequest;
import dev.lathe.contracts.sampling.CreateSamplingSessionResponse;
import dev.lathe.contracts.sampling.GetSamplerResponse;
import dev.lathe.contracts.sampling.SampleRequest;
import dev.lathe.contracts.sampling.SampleResponse;
import dev.lathe.contracts.session.CreateSessionRequest;
import dev.lathe.contracts.session.CreateSessionResponse;
import dev.lathe.contracts.session.GetSessionResponse;
import dev.lathe.contracts.session.ListSessionsResponse;
import dev.lathe.contracts.session.SessionHeartbeatRequest;
import dev.lathe.contracts.session.SessionHeartbeatResponse;
import dev.lathe.contracts.system.ClientConfigRequest;
import dev.lathe.contracts.system.ClientConfigResponse;
import dev.lathe.contracts.system.HealthResponse;
import dev.lathe.contracts.system.ServerCapabilities;
import dev.lathe.contracts.system.TelemetryResponse;
import dev.lathe.contracts.system.TelemetrySendRequest;
import dev.lathe.contracts.training.CreateModelRequest;
import dev.lathe.contracts.training.CreateModelResponse;
import dev.lathe.contracts.training.ForwardBackwardOutput;
import dev.lathe.contracts.training.ForwardBackwardRequest;
import dev.lathe.contracts.training.ForwardRequest;
import dev.lathe.contracts.training.GetInfoRequest;
import dev.lathe.contracts.training.GetInfoResponse;
import dev.lathe.contracts.training.LoadWeightsRequest;
import dev.lathe.contracts.training.LoadWeightsResponse;
import dev.lathe.contracts.training.OptimStepRequest;
import dev.lathe.contracts.training.OptimStepResponse;
import dev.lathe.contracts.training.SaveWeightsForSamplerRequest;
import dev.lathe.contracts.training.SaveWeightsForSamplerResponse;
import dev.lathe.contracts.training.SaveWeightsRequest;
import dev.lathe.contracts.training.SaveWeightsResponse;
import dev.lathe.contracts.training.UnloadModelRequest;
import dev.lathe.contracts.training.UnloadModelResponse;
import dev.lathe.contracts.training.WeightsInfoResponse;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Every request the official tinker SDK sends parses into our records and serialises back to the
 * same JSON; every response it expects does too. The fixtures come from {@code
 * src/test/python/make_tinker_fixtures.py}. Our serialisation of each response is written to {@code
 * target/tinker-out/responses} so that a pytest can parse it with the SDK itself.
 */
class TinkerFixturesTest {

  static final Path FIXTURES = Path.of("src/test/resources/tinker");
  static final Path OUT = Path.of("target/tinker-out/responses");
  static final JsonMapper JSON = WireJson.mapper();

  static final Map<String, Class<?>> REQUESTS =
      Map.ofEntries(
          Map.entry("client_config", ClientConfigRequest.class),
          Map.entry("create_session", CreateSessionRequest.class),
          Map.entry("create_session_minimal", CreateSessionRequest.class),
          Map.entry("session_heartbeat", SessionHeartbeatRequest.class),
          Map.entry("create_model", CreateModelRequest.class),
          Map.entry("create_model_full", CreateModelRequest.class),
          Map.entry("get_info", GetInfoRequest.class),
          Map.entry("unload_model", UnloadModelRequest.class),
          Map.entry("forward", ForwardRequest.class),
          Map.entry("forward_backward_cross_entropy", ForwardBackwardRequest.class),
          Map.entry("forward_backward_ppo", ForwardBackwardRequest.class),
          Map.entry("forward_backward_sparse", ForwardBackwardRequest.class),
          Map.entry("optim_step_defaults", OptimStepRequest.class),
          Map.entry("optim_step", OptimStepRequest.class),
          Map.entry("save_weights", SaveWeightsRequest.class),
          Map.entry("save_weights_for_sampler", SaveWeightsForSamplerRequest.class),
          Map.entry("save_weights_for_sampler_session", SaveWeightsForSamplerRequest.class),
          Map.entry("load_weights", LoadWeightsRequest.class),
          Map.entry("create_sampling_session_base", CreateSamplingSessionRequest.class),
          Map.entry("create_sampling_session_path", CreateSamplingSessionRequest.class),
          Map.entry("sample_defaults", SampleRequest.class),
          Map.entry("sample_stop_text", SampleRequest.class),
          Map.entry("sample_stop_texts", SampleRequest.class),
          Map.entry("sample_stop_tokens", SampleRequest.class),
          Map.entry("sample_image_chunk", SampleRequest.class),
          Map.entry("retrieve_future", FutureRetrieveRequest.class),
          Map.entry("telemetry", TelemetrySendRequest.class));

  static final Map<String, Class<?>> RESPONSES =
      Map.ofEntries(
          Map.entry("health", HealthResponse.class),
          Map.entry("server_capabilities", ServerCapabilities.class),
          Map.entry("create_session", CreateSessionResponse.class),
          Map.entry("session_heartbeat", SessionHeartbeatResponse.class),
          Map.entry("request_accepted", RequestAccepted.class),
          Map.entry("try_again", TryAgainResponse.class),
          Map.entry("request_failed", RequestFailedResponse.class),
          Map.entry("create_model", CreateModelResponse.class),
          Map.entry("get_info", GetInfoResponse.class),
          Map.entry("unload_model", UnloadModelResponse.class),
          Map.entry("forward_backward", ForwardBackwardOutput.class),
          Map.entry("optim_step", OptimStepResponse.class),
          Map.entry("save_weights", SaveWeightsResponse.class),
          Map.entry("save_weights_for_sampler", SaveWeightsForSamplerResponse.class),
          Map.entry("save_weights_for_sampler_session", SaveWeightsForSamplerResponse.class),
          Map.entry("load_weights", LoadWeightsResponse.class),
          Map.entry("weights_info", WeightsInfoResponse.class),
          Map.entry("create_sampling_session", CreateSamplingSessionResponse.class),
          Map.entry("sample", SampleResponse.class),
          Map.entry("get_sampler", GetSamplerResponse.class),
          Map.entry("list_sessions", ListSessionsResponse.class),
          Map.entry("get_session", GetSessionResponse.class),
          Map.entry("checkpoints_list", CheckpointsListResponse.class),
          Map.entry("training_runs", TrainingRunsResponse.class),
          Map.entry("checkpoint_archive_url", CheckpointArchiveUrlResponse.class),
          Map.entry("telemetry", TelemetryResponse.class));

  static Stream<Arguments> requests() {
    return REQUESTS.entrySet().stream().map(e -> Arguments.of(e.getKey(), e.getValue()));
  }

  static Stream<Arguments> responses() {
    return RESPONSES.entrySet().stream().map(e -> Arguments.of(e.getKey(), e.getValue()));
  }

  @Test
  void everyFixtureHasARecordAndTheSdkVersionIsPinned() throws IOException {
    assertThat(names("requests")).isEqualTo(new TreeSet<>(REQUESTS.keySet()));
    assertThat(names("responses")).isEqualTo(new TreeSet<>(RESPONSES.keySet()));
    assertThat(Files.readString(FIXTURES.resolve("SDK_VERSION")).strip()).isEqualTo("0.24.1");
  }

  @ParameterizedTest(name = "request {0}")
  @MethodSource("requests")
  void requestRoundTrips(String name, Class<?> type) throws IOException {
    JsonNode sent = JSON.readTree(FIXTURES.resolve("requests/" + name + ".json").toFile());
    Object parsed = JSON.treeToValue(sent, type);
    JsonNode back = JSON.valueToTree(parsed);
    assertEquivalent(back, sent, name);
  }

  @ParameterizedTest(name = "response {0}")
  @MethodSource("responses")
  void responseRoundTrips(String name, Class<?> type) throws IOException {
    JsonNode expected = JSON.readTree(FIXTURES.resolve("responses/" + name + ".json").toFile());
    Object parsed = JSON.treeToValue(expected, type);
    JsonNode ours = JSON.valueToTree(parsed);
    assertEquivalent(ours, expected, name);
    write(name, ours);
  }

  @Test
  void clientConfigTurnsProtobufOff() throws IOException {
    JsonNode ours = JSON.valueToTree(ClientConfigResponse.of(true, 4096, 64 << 20));
    assertThat(ours.get("proto_write_fwdbwd").asBoolean()).isFalse();
    assertThat(ours.get("fwdbwd_max_chunk_len").asInt()).isEqualTo(4096);
    assertThat(ours.get("fwdbwd_max_chunk_bytes_count").asLong()).isEqualTo(5_000_000);
    assertThat(ours.get("pjwt_auth_enabled").asBoolean()).isFalse();
    write("client_config", ours);
  }

  /** Equal as JSON values: numbers by value (1 == 1.0), absent fields the same as null. */
  static void assertEquivalent(JsonNode actual, JsonNode expected, String name) {
    assertThat(canonical(actual)).as(name).isEqualTo(canonical(expected));
  }

  static String canonical(JsonNode node) {
    return JSON.writeValueAsString(normalise(node));
  }

  private static JsonNode normalise(JsonNode node) {
    if (node.isObject()) {
      ObjectNode out = JSON.createObjectNode();
      Set<String> keys = new TreeSet<>(node.propertyNames());
      for (String k : keys) {
        JsonNode v = node.get(k);
        if (!v.isNull()) {
          out.set(k, normalise(v));
        }
      }
      return out;
    }
    if (node.isArray()) {
      var out = JSON.createArrayNode();
      for (Iterator<JsonNode> it = node.values().iterator(); it.hasNext(); ) {
        out.add(normalise(it.next()));
      }
      return out;
    }
    if (node.isNumber()) {
      return JSON.getNodeFactory().numberNode(node.doubleValue());
    }
    return node;
  }

  private static Set<String> names(String kind) throws IOException {
    try (Stream<Path> files = Files.list(FIXTURES.resolve(kind))) {
      Set<String> out = new TreeSet<>();
      files.forEach(f -> out.add(f.getFileName().toString().replaceFirst("\\.json$", "")));
      return out;
    }
  }

  private static void write(String name, JsonNode json) throws IOException {
    Files.createDirectories(OUT);
    Files.writeString(OUT.resolve(name + ".json"), JSON.writeValueAsString(json));
  }
}
