package dev.lathe.api.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.JdbcTemplate;
import tools.jackson.databind.JsonNode;

/** The operators' storage endpoints: in-use checkpoints stay, expired ones go, ids are checked. */
class AdminStorageTest extends ApiTestBase {

  String save(String key, String model, int seq, String kind, String name, Long ttl) {
    Map<String, Object> body =
        ttl == null
            ? Map.of("model_id", model, "seq_id", seq, "path", name)
            : Map.of("model_id", model, "seq_id", seq, "path", name, "ttl_seconds", ttl);
    String path =
        kind.equals("weights") ? "/api/v1/save_weights" : "/api/v1/save_weights_for_sampler";
    JsonNode r = http.result(key, http.post(key, path, body).json().get("request_id").asString());
    return r.get("path").asString();
  }

  @Test
  void inUseCheckpointsAreKeptAndExpiredOnesDeleted() throws Exception {
    String key = newTenant("admin-storage");
    String session = newSession(key);
    String model = newModel(key, session, 0, 4);
    String tenant =
        new JdbcTemplate(dataSource)
            .queryForObject(
                "SELECT tenant_id FROM training_runs WHERE id = ?", String.class, model);
    String sampler = save(key, model, 1, "sampler", "in-use", 1L);
    String expiring = save(key, model, 2, "weights", "expiring", 1L);
    String kept = save(key, model, 3, "weights", "kept", null);
    Map<String, Object> samplingSession =
        Map.of("session_id", session, "sampling_session_seq_id", 0, "model_path", sampler);
    assertThat(http.post(key, "/api/v1/create_sampling_session", samplingSession).status())
        .isEqualTo(200);

    String base = "/admin/v1/tenants/" + tenant + "/checkpoints";
    JsonNode list = http.get(ADMIN, base).json();
    assertThat(list.get("checkpoints")).hasSize(3);
    assertThat(list.get("total_bytes").asLong()).isPositive();

    String samplerPath = sampler.substring("tinker://".length());
    Http.Response refused = http.delete(ADMIN, base + "/" + samplerPath);
    assertThat(refused.status()).isEqualTo(422);
    assertThat(refused.json().get("detail").asString()).contains("in use by 1 sampling session");

    Thread.sleep(1_100); // both TTLs pass
    JsonNode swept = http.post(ADMIN, base + "/delete_expired", Map.of()).json();
    assertThat(swept.get("deleted")).extracting(JsonNode::asString).containsExactly(expiring);
    assertThat(swept.get("kept_in_use")).extracting(JsonNode::asString).containsExactly(sampler);
    List<String> left =
        http.get(ADMIN, base)
            .json()
            .get("checkpoints")
            .valueStream()
            .map(c -> c.get("checkpoint").get("tinker_path").asString())
            .toList();
    assertThat(left).containsExactlyInAnyOrder(sampler, kept);

    Http.Response tar =
        http.get(ADMIN, base + "/" + kept.substring("tinker://".length()) + "/archive");
    assertThat(tar.status()).isEqualTo(200);
    assertThat(tar.contentType()).isEqualTo("application/x-tar");

    assertThat(http.get(ADMIN, "/admin/v1/tenants/tnt-nope/checkpoints").status()).isEqualTo(404);
    assertThat(http.get(ADMIN, "/admin/v1/tenants/tnt-nope/training_runs").status()).isEqualTo(404);
    assertThat(http.get(ADMIN, "/admin/v1/training_runs/nope/metrics").status()).isEqualTo(404);
    assertThat(http.delete(ADMIN, base + "/" + model + "/bogus/kept").status()).isEqualTo(400);
    assertThat(http.get(key, base).status()).as("a tenant key is not an admin key").isEqualTo(401);
    JsonNode live = http.get(ADMIN, "/admin/v1/live").json();
    assertThat(live.get("workers").get(0).get("base_model").asString()).isEqualTo("lathe-tiny");
  }
}
