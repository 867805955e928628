package dev.lathe.api.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.testing.TestDatabase;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;

/**
 * The whole service on a random port: api, in-process worker with lathe-tiny, a real PostgreSQL
 * database of its own.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
abstract class ApiTestBase {

  static final String ADMIN = "lta-test-admin-key";
  static final DataSource db = TestDatabase.emptyDatabase();

  @DynamicPropertySource
  static void settings(DynamicPropertyRegistry r) throws Exception {
    Path data = Files.createTempDirectory("lathe-api-test");
    r.add("lathe.db.url", () -> TestDatabase.jdbcUrl(db));
    r.add("lathe.db.user", () -> TestDatabase.server().user());
    r.add("lathe.db.password", () -> TestDatabase.server().password());
    r.add("lathe.data-dir", data::toString);
    r.add("lathe.admin-key", () -> ADMIN);
    r.add("lathe.limits.long-poll", () -> "2s");
    // Small enough for BadRequestsTest to pass it; every api test shares this one context (and
    // so one in-process worker on one database).
    r.add("lathe.limits.max-body-bytes", () -> "200000");
  }

  @LocalServerPort int port;
  @Autowired DataSource dataSource;
  Http http;

  @org.junit.jupiter.api.BeforeEach
  void client() {
    http = new Http(port);
  }

  /** A new tenant's API key. */
  String newTenant(String name) {
    Http.Response t = http.post(ADMIN, "/admin/v1/tenants", Map.of("name", name));
    assertThat(t.status()).as(t.body()).isEqualTo(201);
    Http.Response k =
        http.post(
            ADMIN,
            "/admin/v1/tenants/" + t.json().get("tenant_id").asString() + "/api_keys",
            Map.of());
    assertThat(k.status()).as(k.body()).isEqualTo(201);
    return k.json().get("api_key").asString();
  }

  String newSession(String key) {
    Http.Response r =
        http.post(
            key, "/api/v1/create_session", Map.of("tags", List.of("test"), "sdk_version", "test"));
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    return r.json().get("session_id").asString();
  }

  /** Asks for a training run on lathe-tiny; the server's answer as it is. */
  Http.Response createModel(String key, String session, int modelSeqId, int rank) {
    return http.post(
        key,
        "/api/v1/create_model",
        Map.of(
            "session_id",
            session,
            "model_seq_id",
            modelSeqId,
            "base_model",
            "lathe-tiny",
            "lora_config",
            Map.of("rank", rank, "seed", 7)));
  }

  /** Creates a training run and waits for it; returns its model id. */
  String newModel(String key, String session, int modelSeqId, int rank) {
    Http.Response r = createModel(key, session, modelSeqId, rank);
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    JsonNode done = http.result(key, r.json().get("request_id").asString());
    assertThat(done.has("error")).as(done.toString()).isFalse();
    return r.json().get("model_id").asString();
  }

  /** A cross-entropy datum predicting each next byte of a text. */
  static Map<String, Object> datum(String text) {
    byte[] b = text.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    int[] tokens = new int[b.length - 1];
    int[] targets = new int[b.length - 1];
    double[] weights = new double[b.length - 1];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = b[i];
      targets[i] = b[i + 1];
      weights[i] = 1;
    }
    return Map.of(
        "model_input", Map.of("chunks", List.of(Map.of("type", "encoded_text", "tokens", tokens))),
        "loss_fn_inputs",
            Map.of(
                "target_tokens",
                    Map.of("data", targets, "dtype", "int64", "shape", List.of(targets.length)),
                "weights",
                    Map.of("data", weights, "dtype", "float32", "shape", List.of(weights.length))));
  }

  static Map<String, Object> forwardBackward(String model, int seq, Object... data) {
    return Map.of(
        "model_id",
        model,
        "seq_id",
        seq,
        "forward_backward_input",
        Map.of("data", List.of(data), "loss_fn", "cross_entropy"));
  }

  /** A forward that also measures the KL from the base model: the forgetting probe. */
  static Map<String, Object> probe(String model, int seq, Object... data) {
    return Map.of(
        "model_id",
        model,
        "seq_id",
        seq,
        "forward_input",
        Map.of(
            "data",
            List.of(data),
            "loss_fn",
            "cross_entropy",
            "loss_fn_config",
            Map.of("kl_from_base", 1)));
  }

  static Map<String, Object> optimStep(String model, int seq, double lr) {
    return Map.of("model_id", model, "seq_id", seq, "adam_params", Map.of("learning_rate", lr));
  }
}
