package dev.lathe.api.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.springframework.jdbc.core.JdbcTemplate;
import tools.jackson.databind.JsonNode;

/**
 * Hostile input, one row each: the status, the field the answer names, a problem+json body — and
 * afterwards not one stored row has changed.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BadRequestsTest extends ApiTestBase {

  static final List<String> TABLES =
      List.of(
          "tenants",
          "api_keys",
          "sessions",
          "training_runs",
          "sampling_sessions",
          "requests",
          "checkpoints");

  String key;
  String session;
  String model;

  /** One bad call. */
  record Bad(
      String name,
      String method,
      String path,
      String body,
      int status,
      String field,
      boolean admin) {}

  @BeforeAll
  void fixture() {
    http = new Http(port);
    key = newTenant("hostile");
    session = newSession(key);
    model = newModel(key, session, 0, 4);
  }

  String fb(String input) {
    return "{\"model_id\":\"" + model + "\",\"seq_id\":1,\"forward_backward_input\":" + input + "}";
  }

  static String data(String tokens, String inputs) {
    return "{\"data\":[{\"model_input\":{\"chunks\":[{\"type\":\"encoded_text\",\"tokens\":"
        + tokens
        + "}]},\"loss_fn_inputs\":"
        + inputs
        + "}],\"loss_fn\":\"cross_entropy\"}";
  }

  static String targets(String values) {
    return "{\"target_tokens\":{\"data\":" + values + ",\"dtype\":\"int64\"}}";
  }

  String optim(String adam) {
    return "{\"model_id\":\"" + model + "\",\"seq_id\":1,\"adam_params\":" + adam + "}";
  }

  String sample(String extra) {
    return "{\"prompt\":{\"chunks\":[{\"type\":\"encoded_text\",\"tokens\":[1,2]}]},\"base_model\":\"lathe-tiny\","
        + extra
        + "}";
  }

  List<Bad> table() {
    String m = model;
    String s = session;
    String ok = data("[1,2,3]", targets("[2,3,4]"));
    List<Bad> t = new ArrayList<>();
    Function<String, String> createModel =
        lora ->
            "{\"session_id\":\""
                + s
                + "\",\"model_seq_id\":9,\"base_model\":\"lathe-tiny\",\"lora_config\":"
                + lora
                + "}";
    // Authentication.
    t.add(
        new Bad(
            "no key",
            "POST",
            "/api/v1/get_info",
            "{\"model_id\":\"" + m + "\"}",
            401,
            "X-API-Key",
            false));
    t.add(
        new Bad(
            "tenant key on admin api", "GET", "/admin/v1/tenants", null, 401, "X-API-Key", false));
    // Malformed bodies.
    t.add(new Bad("not json", "POST", "/api/v1/forward_backward", "{not json", 400, null, false));
    t.add(new Bad("empty body", "POST", "/api/v1/optim_step", "", 400, null, false));
    t.add(
        new Bad(
            "too large",
            "POST",
            "/api/v1/forward_backward",
            fb(data("[" + "1,".repeat(150_000) + "1]", "{}")),
            413,
            null,
            false));
    t.add(
        new Bad(
            "wrong type",
            "POST",
            "/api/v1/create_model",
            createModel.apply("{\"rank\":\"abc\"}"),
            400,
            "lora_config.rank",
            false));
    // create_model.
    t.add(
        new Bad(
            "no session",
            "POST",
            "/api/v1/create_model",
            "{\"model_seq_id\":1,\"base_model\":\"lathe-tiny\",\"lora_config\":{\"rank\":4}}",
            400,
            "session_id",
            false));
    t.add(
        new Bad(
            "unknown session",
            "POST",
            "/api/v1/create_model",
            "{\"session_id\":\"nope\",\"model_seq_id\":1,\"base_model\":\"lathe-tiny\",\"lora_config\":{\"rank\":4}}",
            404,
            "session_id",
            false));
    t.add(
        new Bad(
            "no lora_config",
            "POST",
            "/api/v1/create_model",
            "{\"session_id\":\"" + s + "\",\"model_seq_id\":9,\"base_model\":\"lathe-tiny\"}",
            400,
            "lora_config",
            false));
    t.add(
        new Bad(
            "rank 0",
            "POST",
            "/api/v1/create_model",
            createModel.apply("{\"rank\":0}"),
            400,
            "lora_config.rank",
            false));
    t.add(
        new Bad(
            "rank huge",
            "POST",
            "/api/v1/create_model",
            createModel.apply("{\"rank\":100000}"),
            400,
            "lora_config.rank",
            false));
    t.add(
        new Bad(
            "rank fractional",
            "POST",
            "/api/v1/create_model",
            createModel.apply("{\"rank\":4.5}"),
            400,
            "lora_config.rank",
            false));
    t.add(
        new Bad(
            "unknown base model",
            "POST",
            "/api/v1/create_model",
            createModel.apply("{\"rank\":4}").replace("lathe-tiny", "gpt-5"),
            400,
            "base_model",
            false));
    t.add(
        new Bad(
            "negative model_seq_id",
            "POST",
            "/api/v1/create_model",
            createModel.apply("{\"rank\":4}").replace("\"model_seq_id\":9", "\"model_seq_id\":-1"),
            400,
            "model_seq_id",
            false));
    // forward_backward.
    t.add(
        new Bad(
            "unknown model",
            "POST",
            "/api/v1/forward_backward",
            fb(ok).replace(m, "nope:train:0"),
            404,
            "model_id",
            false));
    t.add(
        new Bad(
            "no model_id",
            "POST",
            "/api/v1/forward_backward",
            "{\"seq_id\":1,\"forward_backward_input\":" + ok + "}",
            400,
            "model_id",
            false));
    t.add(
        new Bad(
            "no seq_id",
            "POST",
            "/api/v1/forward_backward",
            "{\"model_id\":\"" + m + "\",\"forward_backward_input\":" + ok + "}",
            400,
            "seq_id",
            false));
    t.add(
        new Bad(
            "seq_id 0",
            "POST",
            "/api/v1/forward_backward",
            fb(ok).replace("\"seq_id\":1", "\"seq_id\":0"),
            400,
            "seq_id",
            false));
    t.add(
        new Bad(
            "no input",
            "POST",
            "/api/v1/forward_backward",
            "{\"model_id\":\"" + m + "\",\"seq_id\":1}",
            400,
            "forward_backward_input",
            false));
    t.add(
        new Bad(
            "empty data",
            "POST",
            "/api/v1/forward_backward",
            fb("{\"data\":[],\"loss_fn\":\"cross_entropy\"}"),
            400,
            "forward_backward_input.data",
            false));
    t.add(
        new Bad(
            "unknown loss",
            "POST",
            "/api/v1/forward_backward",
            fb(ok.replace("cross_entropy", "mse")),
            400,
            "forward_backward_input.loss_fn",
            false));
    t.add(
        new Bad(
            "token past vocab",
            "POST",
            "/api/v1/forward_backward",
            fb(data("[1,70000,3]", targets("[2,3,4]"))),
            400,
            "forward_backward_input.data[0].model_input.chunks[0].tokens[1]",
            false));
    t.add(
        new Bad(
            "negative token",
            "POST",
            "/api/v1/forward_backward",
            fb(data("[-1,2,3]", targets("[2,3,4]"))),
            400,
            "forward_backward_input.data[0].model_input.chunks[0].tokens[0]",
            false));
    t.add(
        new Bad(
            "fractional token",
            "POST",
            "/api/v1/forward_backward",
            fb(data("[1.5,2,3]", targets("[2,3,4]"))),
            400,
            "forward_backward_input.data[0].model_input.chunks[0].tokens[0]",
            false));
    t.add(
        new Bad(
            "image chunk",
            "POST",
            "/api/v1/forward_backward",
            fb(
                ok.replace(
                    "{\"type\":\"encoded_text\",\"tokens\":[1,2,3]}",
                    "{\"type\":\"image\",\"data\":\"AAAA\",\"format\":\"png\"}")),
            400,
            "forward_backward_input.data[0].model_input.chunks[0]",
            false));
    t.add(
        new Bad(
            "unknown chunk type",
            "POST",
            "/api/v1/forward_backward",
            fb(ok.replace("encoded_text", "video")),
            400,
            "forward_backward_input.data[0].model_input.chunks[0]",
            false));
    t.add(
        new Bad(
            "targets too short",
            "POST",
            "/api/v1/forward_backward",
            fb(data("[1,2,3]", targets("[2,3]"))),
            400,
            "forward_backward_input.data[0].loss_fn_inputs.target_tokens",
            false));
    t.add(
        new Bad(
            "target past vocab",
            "POST",
            "/api/v1/forward_backward",
            fb(data("[1,2,3]", targets("[999,3,4]"))),
            400,
            "forward_backward_input.data[0].loss_fn_inputs.target_tokens[0]",
            false));
    t.add(
        new Bad(
            "fractional target",
            "POST",
            "/api/v1/forward_backward",
            fb(data("[1,2,3]", targets("[2,3.5,4]"))),
            400,
            "forward_backward_input.data[0].loss_fn_inputs.target_tokens[1]",
            false));
    t.add(
        new Bad(
            "infinite weight",
            "POST",
            "/api/v1/forward_backward",
            fb(
                data(
                    "[1,2,3]",
                    "{\"target_tokens\":{\"data\":[2,3,4],\"dtype\":\"int64\"},\"weights\":{\"data\":[1,1e999,1],\"dtype\":\"float32\"}}")),
            400,
            "forward_backward_input.data[0].loss_fn_inputs.weights[1]",
            false));
    t.add(
        new Bad(
            "NaN weight",
            "POST",
            "/api/v1/forward_backward",
            fb(
                data(
                    "[1,2,3]",
                    "{\"target_tokens\":{\"data\":[2,3,4],\"dtype\":\"int64\"},\"weights\":{\"data\":[1,NaN,1],\"dtype\":\"float32\"}}")),
            400,
            null,
            false));
    t.add(
        new Bad(
            "no targets",
            "POST",
            "/api/v1/forward_backward",
            fb(data("[1,2,3]", "{}")),
            400,
            "forward_backward_input.data[0].loss_fn_inputs.target_tokens",
            false));
    t.add(
        new Bad(
            "ppo without advantages",
            "POST",
            "/api/v1/forward_backward",
            fb(
                data(
                        "[1,2,3]",
                        "{\"target_tokens\":{\"data\":[2,3,4],\"dtype\":\"int64\"},\"logprobs\":{\"data\":[-1,-1,-1],\"dtype\":\"float32\"}}")
                    .replace("cross_entropy", "ppo")),
            400,
            "forward_backward_input.data[0].loss_fn_inputs.advantages",
            false));
    t.add(
        new Bad(
            "dro without beta",
            "POST",
            "/api/v1/forward_backward",
            fb(
                data(
                        "[1,2,3]",
                        "{\"target_tokens\":{\"data\":[2,3,4],\"dtype\":\"int64\"},\"logprobs\":{\"data\":[-1,-1,-1],\"dtype\":\"float32\"},\"advantages\":{\"data\":[1,1,1],\"dtype\":\"float32\"}}")
                    .replace("cross_entropy", "dro")),
            400,
            "forward_backward_input.loss_fn_config.beta",
            false));
    t.add(
        new Bad(
            "unknown loss option",
            "POST",
            "/api/v1/forward_backward",
            fb(
                ok.replace(
                    "\"loss_fn\":\"cross_entropy\"",
                    "\"loss_fn\":\"cross_entropy\",\"loss_fn_config\":{\"temperature\":2}")),
            400,
            "forward_backward_input.loss_fn_config.temperature",
            false));
    String klFromBase = "\"loss_fn\":\"cross_entropy\",\"loss_fn_config\":{\"kl_from_base\":%s}";
    t.add(
        new Bad(
            "the forgetting probe on forward_backward",
            "POST",
            "/api/v1/forward_backward",
            fb(ok.replace("\"loss_fn\":\"cross_entropy\"", klFromBase.formatted("1"))),
            400,
            "forward_backward_input.loss_fn_config.kl_from_base",
            false));
    t.add(
        new Bad(
            "the forgetting probe set to 2",
            "POST",
            "/api/v1/forward",
            fb(ok.replace("\"loss_fn\":\"cross_entropy\"", klFromBase.formatted("2")))
                .replace("forward_backward_input", "forward_input"),
            400,
            "forward_input.loss_fn_config.kl_from_base",
            false));
    t.add(
        new Bad(
            "unknown dtype",
            "POST",
            "/api/v1/forward_backward",
            fb(data("[1,2,3]", "{\"target_tokens\":{\"data\":[2,3,4],\"dtype\":\"float16\"}}")),
            400,
            "forward_backward_input.data[0].loss_fn_inputs.target_tokens.dtype",
            false));
    t.add(
        new Bad(
            "broken CSR",
            "POST",
            "/api/v1/forward_backward",
            fb(
                data(
                    "[1,2,3]",
                    "{\"target_tokens\":{\"data\":[2,3,4],\"dtype\":\"int64\"},\"weights\":{\"data\":[1],\"dtype\":\"float32\",\"shape\":[1,3],\"sparse_crow_indices\":[0,1],\"sparse_col_indices\":[5]}}")),
            400,
            "forward_backward_input.data[0].loss_fn_inputs.weights",
            false));
    t.add(
        new Bad(
            "2-D targets",
            "POST",
            "/api/v1/forward_backward",
            fb(
                data(
                    "[1,2,3]",
                    "{\"target_tokens\":{\"data\":[2,3,4,5,6,7],\"dtype\":\"int64\",\"shape\":[3,2]}}")),
            400,
            "forward_backward_input.data[0].loss_fn_inputs.target_tokens",
            false));
    t.add(
        new Bad(
            "past the context",
            "POST",
            "/api/v1/forward_backward",
            fb(data("[" + "1,".repeat(2048) + "1]", targets("[" + "1,".repeat(2048) + "1]"))),
            400,
            "forward_backward_input.data[0].model_input",
            false));
    // optim_step.
    t.add(
        new Bad(
            "no adam_params",
            "POST",
            "/api/v1/optim_step",
            "{\"model_id\":\"" + m + "\",\"seq_id\":1}",
            400,
            "adam_params",
            false));
    t.add(
        new Bad(
            "negative lr",
            "POST",
            "/api/v1/optim_step",
            optim("{\"learning_rate\":-1}"),
            400,
            "adam_params.learning_rate",
            false));
    t.add(
        new Bad(
            "beta1 of 1",
            "POST",
            "/api/v1/optim_step",
            optim("{\"beta1\":1.0}"),
            400,
            "adam_params.beta1",
            false));
    t.add(
        new Bad(
            "eps 0",
            "POST",
            "/api/v1/optim_step",
            optim("{\"eps\":0}"),
            400,
            "adam_params.eps",
            false));
    t.add(
        new Bad(
            "negative clip",
            "POST",
            "/api/v1/optim_step",
            optim("{\"grad_clip_norm\":-2}"),
            400,
            "adam_params.grad_clip_norm",
            false));
    // Checkpoints.
    t.add(
        new Bad(
            "path traversal",
            "POST",
            "/api/v1/save_weights",
            "{\"model_id\":\"" + m + "\",\"seq_id\":1,\"path\":\"../../etc\"}",
            400,
            "path",
            false));
    t.add(
        new Bad(
            "ttl 0",
            "POST",
            "/api/v1/save_weights",
            "{\"model_id\":\"" + m + "\",\"seq_id\":1,\"ttl_seconds\":0}",
            400,
            "ttl_seconds",
            false));
    t.add(
        new Bad(
            "not a tinker path",
            "POST",
            "/api/v1/load_weights",
            "{\"model_id\":\"" + m + "\",\"seq_id\":1,\"path\":\"/etc/passwd\",\"optimizer\":true}",
            400,
            "path",
            false));
    t.add(
        new Bad(
            "unknown checkpoint",
            "POST",
            "/api/v1/load_weights",
            "{\"model_id\":\""
                + m
                + "\",\"seq_id\":1,\"path\":\"tinker://"
                + m
                + "/weights/none\",\"optimizer\":true}",
            404,
            "path",
            false));
    t.add(
        new Bad(
            "weights_info unknown",
            "POST",
            "/api/v1/weights_info",
            "{\"tinker_path\":\"tinker://x/weights/y\"}",
            404,
            "tinker_path",
            false));
    // Sampling.
    t.add(
        new Bad(
            "zero samples",
            "POST",
            "/api/v1/asample",
            sample("\"num_samples\":0,\"sampling_params\":{}"),
            400,
            "num_samples",
            false));
    t.add(
        new Bad(
            "max_tokens huge",
            "POST",
            "/api/v1/asample",
            sample("\"sampling_params\":{\"max_tokens\":1000000}"),
            400,
            "sampling_params.max_tokens",
            false));
    t.add(
        new Bad(
            "negative temperature",
            "POST",
            "/api/v1/asample",
            sample("\"sampling_params\":{\"temperature\":-1}"),
            400,
            "sampling_params.temperature",
            false));
    t.add(
        new Bad(
            "top_p 0",
            "POST",
            "/api/v1/asample",
            sample("\"sampling_params\":{\"top_p\":0}"),
            400,
            "sampling_params.top_p",
            false));
    t.add(
        new Bad(
            "top_k 0",
            "POST",
            "/api/v1/asample",
            sample("\"sampling_params\":{\"top_k\":0}"),
            400,
            "sampling_params.top_k",
            false));
    t.add(
        new Bad(
            "mixed stop list",
            "POST",
            "/api/v1/asample",
            sample("\"sampling_params\":{\"stop\":[\"a\",1]}"),
            400,
            "sampling_params.stop",
            false));
    t.add(
        new Bad(
            "no sampling_params",
            "POST",
            "/api/v1/asample",
            sample("\"num_samples\":1"),
            400,
            "sampling_params",
            false));
    t.add(
        new Bad(
            "unknown model_path",
            "POST",
            "/api/v1/asample",
            sample("\"sampling_params\":{},\"model_path\":\"tinker://a/sampler_weights/b\"")
                .replace("\"base_model\":\"lathe-tiny\",", ""),
            404,
            "model_path",
            false));
    t.add(
        new Bad(
            "unknown sampling session",
            "POST",
            "/api/v1/asample",
            sample("\"sampling_params\":{},\"sampling_session_id\":\"nope\",\"seq_id\":0"),
            404,
            "sampling_session_id",
            false));
    t.add(
        new Bad(
            "too many top-k logprobs",
            "POST",
            "/api/v1/asample",
            sample("\"sampling_params\":{},\"topk_prompt_logprobs\":5000"),
            400,
            "topk_prompt_logprobs",
            false));
    // Futures, sessions, admin.
    t.add(
        new Bad(
            "unknown future",
            "POST",
            "/api/v1/retrieve_future",
            "{\"request_id\":\"nope\"}",
            404,
            "request_id",
            false));
    t.add(
        new Bad(
            "future without id",
            "POST",
            "/api/v1/retrieve_future",
            "{}",
            400,
            "request_id",
            false));
    t.add(
        new Bad(
            "unknown session heartbeat",
            "POST",
            "/api/v1/session_heartbeat",
            "{\"session_id\":\"nope\"}",
            404,
            "session_id",
            false));
    t.add(
        new Bad("sessions limit 0", "GET", "/api/v1/sessions?limit=0", null, 400, "limit", false));
    t.add(
        new Bad(
            "tenant without name",
            "POST",
            "/admin/v1/tenants",
            "{\"name\":\"  \"}",
            400,
            "name",
            true));
    t.add(
        new Bad(
            "tenant name with markup",
            "POST",
            "/admin/v1/tenants",
            "{\"name\":\"<script>\"}",
            400,
            "name",
            true));
    t.add(
        new Bad(
            "revoke unknown key",
            "DELETE",
            "/admin/v1/api_keys/tml-nope",
            null,
            404,
            "key_prefix",
            true));
    return t;
  }

  @Test
  void everyBadRequestIsRefusedByFieldAndChangesNothing() {
    Map<String, Long> before = counts();
    List<Bad> table = table();
    assertThat(table).hasSizeGreaterThanOrEqualTo(40);
    List<String> failures = new ArrayList<>();
    for (Bad b : table) {
      String auth = b.name().equals("no key") ? null : b.admin() ? ADMIN : key;
      Http.Response r =
          switch (b.method()) {
            case "GET" -> http.get(auth, b.path());
            case "DELETE" -> http.delete(auth, b.path());
            default -> http.post(auth, b.path(), b.body());
          };
      JsonNode json = r.json();
      String field =
          json == null || json.get("field") == null ? null : json.get("field").asString();
      boolean problem =
          r.contentType().startsWith("application/problem+json")
              && json != null
              && json.has("detail")
              && json.has("error");
      if (r.status() != b.status() || (b.field() != null && !b.field().equals(field)) || !problem) {
        failures.add(
            b.name()
                + ": got "
                + r.status()
                + " field "
                + field
                + " "
                + r.contentType()
                + " "
                + r.body());
      }
    }
    assertThat(failures).isEmpty();
    assertThat(counts()).isEqualTo(before);
  }

  private Map<String, Long> counts() {
    JdbcTemplate jdbc = new JdbcTemplate(db);
    Map<String, Long> out = new HashMap<>();
    for (String t : TABLES) {
      out.put(t, jdbc.queryForObject("SELECT count(*) FROM " + t, Long.class));
    }
    out.put(
        "sum(seq)",
        jdbc.queryForObject("SELECT coalesce(sum(last_seq_id), 0) FROM training_runs", Long.class));
    return out;
  }
}
