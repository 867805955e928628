package dev.lathe.api.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/** The primitives over real HTTP: a whole training loop, tenants apart, idempotent steps. */
class TrainingLoopTest extends ApiTestBase {

  @Test
  void aFullLoopTrainsSavesAndSamples() {
    String key = newTenant("loop");
    String session = newSession(key);
    String model = newModel(key, session, 0, 16);
    Map<String, Object> datum = datum("lathe trains loras");

    List<Double> losses = new ArrayList<>();
    int seq = 1;
    for (int step = 0; step < 10; step++) {
      Http.Response fb =
          http.post(key, "/api/v1/forward_backward", forwardBackward(model, seq++, datum));
      assertThat(fb.status()).as(fb.body()).isEqualTo(200);
      assertThat(fb.json().get("model_id").asString()).isEqualTo(model);
      Http.Response opt = http.post(key, "/api/v1/optim_step", optimStep(model, seq++, 5e-3));
      JsonNode out = http.result(key, fb.json().get("request_id").asString());
      assertThat(out.get("loss_fn_output_type").asString()).isEqualTo("ArrayRecord");
      assertThat(out.get("loss_fn_outputs").get(0).get("logprobs").get("data")).hasSize(17);
      losses.add(out.get("metrics").get("loss:sum").asDouble());
      JsonNode stepped = http.result(key, opt.json().get("request_id").asString());
      assertThat(stepped.get("metrics").get("step:max").asInt()).isEqualTo(step + 1);
    }
    assertThat(losses.getLast()).isLessThan(0.5 * losses.getFirst());

    Http.Response save =
        http.post(
            key,
            "/api/v1/save_weights_for_sampler",
            Map.of("model_id", model, "seq_id", seq++, "path", "final"));
    JsonNode saved = http.result(key, save.json().get("request_id").asString());
    String path = saved.get("path").asString();
    assertThat(path).isEqualTo("tinker://" + model + "/sampler_weights/final");

    Http.Response sample =
        http.post(
            key,
            "/api/v1/asample",
            Map.of(
                "prompt",
                Map.of(
                    "chunks",
                    List.of(Map.of("type", "encoded_text", "tokens", new int[] {108, 97, 116}))),
                "num_samples",
                2,
                "model_path",
                path,
                "sampling_params",
                Map.of("max_tokens", 8, "temperature", 0.0)));
    assertThat(sample.status()).as(sample.body()).isEqualTo(200);
    JsonNode samples = http.result(key, sample.json().get("request_id").asString());
    assertThat(samples.get("sequences")).hasSize(2);
    for (JsonNode s : samples.get("sequences")) {
      assertThat(s.get("tokens")).isNotEmpty();
      assertThat(s.get("logprobs")).hasSize(s.get("tokens").size());
    }
    // The sampler checkpoint is the live adapter: its logprobs equal a forward pass's.
    JsonNode first = samples.get("sequences").get(0);
    int n = first.get("tokens").size();
    int[] context = new int[3 + n - 1];
    int[] targets = new int[3 + n - 1];
    int[] prompt = {108, 97, 116};
    for (int i = 0; i < context.length; i++) {
      context[i] = i < 3 ? prompt[i] : first.get("tokens").get(i - 3).asInt();
    }
    for (int i = 0; i < targets.length; i++) {
      targets[i] = i + 1 < 3 ? prompt[i + 1] : first.get("tokens").get(i + 1 - 3).asInt();
    }
    Http.Response fwd =
        http.post(
            key,
            "/api/v1/forward",
            Map.of(
                "model_id",
                model,
                "seq_id",
                seq++,
                "forward_input",
                Map.of(
                    "loss_fn",
                    "cross_entropy",
                    "data",
                    List.of(
                        Map.of(
                            "model_input",
                                Map.of(
                                    "chunks",
                                    List.of(Map.of("type", "encoded_text", "tokens", context))),
                            "loss_fn_inputs",
                                Map.of(
                                    "target_tokens",
                                    Map.of("data", targets, "dtype", "int64")))))));
    JsonNode lp =
        http.result(key, fwd.json().get("request_id").asString())
            .get("loss_fn_outputs")
            .get(0)
            .get("logprobs")
            .get("data");
    for (int i = 0; i < n; i++) {
      assertThat(first.get("logprobs").get(i).asDouble())
          .isCloseTo(lp.get(2 + i).asDouble(), org.assertj.core.data.Offset.offset(1e-4));
    }

    Http.Response info = http.post(key, "/api/v1/get_info", Map.of("model_id", model));
    assertThat(info.json().get("lora_rank").asInt()).isEqualTo(16);
    Long steps =
        new org.springframework.jdbc.core.JdbcTemplate(db)
            .queryForObject(
                "SELECT count(*) FROM step_metrics WHERE training_run_id = ?", Long.class, model);
    assertThat(steps).isEqualTo(10);
  }

  @Test
  void tenantsCannotSeeEachOther() {
    String alice = newTenant("alice");
    String bob = newTenant("bob");
    String session = newSession(alice);
    String model = newModel(alice, session, 0, 4);
    Http.Response fb =
        http.post(alice, "/api/v1/forward_backward", forwardBackward(model, 1, datum("hello")));

    Http.Response stolen =
        http.post(bob, "/api/v1/forward_backward", forwardBackward(model, 1, datum("hello")));
    assertThat(stolen.status()).isEqualTo(404);
    assertThat(stolen.json().get("field").asString()).isEqualTo("model_id");
    assertThat(http.post(bob, "/api/v1/get_info", Map.of("model_id", model)).status())
        .isEqualTo(404);
    assertThat(
            http.post(
                    bob,
                    "/api/v1/retrieve_future",
                    Map.of("request_id", fb.json().get("request_id").asString()))
                .status())
        .isEqualTo(404);
    assertThat(http.post(bob, "/api/v1/session_heartbeat", Map.of("session_id", session)).status())
        .isEqualTo(404);
    assertThat(http.get(bob, "/api/v1/sessions/" + session).status()).isEqualTo(404);
    assertThat(http.result(alice, fb.json().get("request_id").asString()).has("loss_fn_outputs"))
        .isTrue();
  }

  @Test
  void aSeqIdIsIdempotentAndNeverReused() {
    String key = newTenant("idem");
    String model = newModel(key, newSession(key), 0, 4);
    Http.Response first =
        http.post(key, "/api/v1/forward_backward", forwardBackward(model, 1, datum("abc")));
    Http.Response again =
        http.post(key, "/api/v1/forward_backward", forwardBackward(model, 1, datum("abc")));
    assertThat(again.status()).isEqualTo(200);
    assertThat(again.json().get("request_id").asString())
        .isEqualTo(first.json().get("request_id").asString());

    Http.Response other =
        http.post(key, "/api/v1/forward_backward", forwardBackward(model, 1, datum("xyz")));
    assertThat(other.status()).isEqualTo(422);
    assertThat(other.json().get("field").asString()).isEqualTo("seq_id");
    Http.Response kind = http.post(key, "/api/v1/optim_step", optimStep(model, 1, 1e-3));
    assertThat(kind.status()).isEqualTo(422);
    Long rows =
        new org.springframework.jdbc.core.JdbcTemplate(db)
            .queryForObject(
                "SELECT count(*) FROM requests WHERE model_id = ? AND seq_id = 1",
                Long.class,
                model);
    assertThat(rows).isEqualTo(1);
  }

  @Test
  void outOfOrderSeqIdsRunInOrder() {
    String key = newTenant("order");
    String model = newModel(key, newSession(key), 0, 4);
    // seq 2 (optim_step) arrives before seq 1 (forward_backward): it must wait for it.
    Http.Response opt = http.post(key, "/api/v1/optim_step", optimStep(model, 2, 1e-2));
    Http.Response fb =
        http.post(key, "/api/v1/forward_backward", forwardBackward(model, 1, datum("ordered")));
    JsonNode stepped = http.result(key, opt.json().get("request_id").asString());
    http.result(key, fb.json().get("request_id").asString());
    // Had the step run first, it would have seen no gradient.
    assertThat(stepped.get("metrics").get("grad_norm:mean").asDouble()).isGreaterThan(0);
    List<String> order =
        new org.springframework.jdbc.core.JdbcTemplate(db)
            .queryForList(
                "SELECT kind FROM requests WHERE model_id = ? AND seq_id > 0 ORDER BY finished_at",
                String.class,
                model);
    assertThat(order).containsExactly("forward_backward", "optim_step");
  }

  @Test
  void aCheckpointInUseBySamplingIsNotDeleted() {
    String key = newTenant("in-use");
    String model = newModel(key, newSession(key), 0, 4);
    Http.Response save =
        http.post(
            key,
            "/api/v1/save_weights_for_sampler",
            Map.of("model_id", model, "seq_id", 1, "sampling_session_seq_id", 0));
    JsonNode saved = http.result(key, save.json().get("request_id").asString());
    String samplingSession = saved.get("sampling_session_id").asString();
    assertThat(
            http.get(key, "/api/v1/samplers/" + samplingSession)
                .json()
                .get("model_path")
                .asString())
        .isEqualTo("tinker://" + model + "/sampler_weights/session-0");

    Http.Response refused =
        http.delete(
            key, "/api/v1/training_runs/" + model + "/checkpoints/sampler_weights/session-0");
    assertThat(refused.status()).isEqualTo(422);
    assertThat(refused.json().get("field").asString()).isEqualTo("checkpoint_id");
    assertThat(refused.json().get("detail").asString()).contains("in use by 1 sampling session");
    JsonNode listed = http.get(key, "/api/v1/training_runs/" + model + "/checkpoints").json();
    assertThat(listed.get("checkpoints")).hasSize(1);
    assertThat(listed.get("cursor").get("total_count").asInt()).isEqualTo(1);
  }
}
