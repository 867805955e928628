package dev.lathe.api.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * A tenant's quotas: tokens per minute, training runs and checkpoint bytes answer 429 with
 * Retry-After and store nothing; suspension stops the keys without deleting anything.
 */
class QuotasTest extends ApiTestBase {

  JdbcTemplate jdbc() {
    return new JdbcTemplate(dataSource);
  }

  String tenantOf(String model) {
    return jdbc()
        .queryForObject("SELECT tenant_id FROM training_runs WHERE id = ?", String.class, model);
  }

  Http.Response quotas(String tenant, Integer adapters, Long bytes, Integer tokensPerMinute) {
    Map<String, Object> q = new HashMap<>();
    q.put("max_adapters", adapters);
    q.put("max_storage_bytes", bytes);
    q.put("max_tokens_per_minute", tokensPerMinute);
    return http.put(ADMIN, "/admin/v1/tenants/" + tenant + "/quotas", q);
  }

  long count(String sql, Object... args) {
    return jdbc().queryForObject(sql, Long.class, args);
  }

  @Test
  void tokensPerMinuteRunOutWithRetryAfter() {
    String key = newTenant("quota-tokens");
    String model = newModel(key, newSession(key), 0, 4);
    String tenant = tenantOf(model);
    assertThat(quotas(tenant, null, null, 40).status()).isEqualTo(200);
    // "quota tokens!" is 12 inputs: three calls fit in 40, the fourth does not.
    for (int seq = 1; seq <= 3; seq++) {
      Http.Response ok = http.post(key, "/api/v1/forward", forward(model, seq, "quota tokens!"));
      assertThat(ok.status()).as(ok.body()).isEqualTo(200);
    }
    long before = count("SELECT count(*) FROM requests WHERE tenant_id = ?", tenant);
    Http.Response refused = http.post(key, "/api/v1/forward", forward(model, 4, "quota tokens!"));
    assertThat(refused.status()).isEqualTo(429);
    assertThat(refused.json().get("field").asString()).isEqualTo("forward_input.data");
    assertThat(Long.parseLong(refused.header("Retry-After"))).isBetween(1L, 60L);
    assertThat(count("SELECT count(*) FROM requests WHERE tenant_id = ?", tenant))
        .isEqualTo(before);

    Http.Response tooBig = http.post(key, "/api/v1/forward", forward(model, 4, "x".repeat(60)));
    assertThat(tooBig.status()).isEqualTo(400);
    assertThat(tooBig.json().get("detail").asString()).contains("limit of 40 per minute");

    assertThat(quotas(tenant, null, null, null).status()).isEqualTo(200);
    assertThat(http.post(key, "/api/v1/forward", forward(model, 4, "quota tokens!")).status())
        .isEqualTo(200);
  }

  @Test
  void trainingRunsAndCheckpointBytesHaveQuotas() {
    String key = newTenant("quota-held");
    String session = newSession(key);
    String model = newModel(key, session, 0, 4);
    String tenant = tenantOf(model);
    assertThat(quotas(tenant, 1, 1L, null).status()).isEqualTo(200);

    Http.Response second = createModel(key, session, 1, 4);
    assertThat(second.status()).isEqualTo(429);
    assertThat(second.header("Retry-After")).isEqualTo("60");
    assertThat(second.json().get("detail").asString()).contains("1 of its 1 training runs");
    assertThat(count("SELECT count(*) FROM training_runs WHERE tenant_id = ?", tenant))
        .isEqualTo(1);

    // Under the byte quota (nothing stored yet) a checkpoint is written; then the quota is full.
    Http.Response save =
        http.post(
            key, "/api/v1/save_weights", Map.of("model_id", model, "seq_id", 1, "path", "one"));
    assertThat(save.status()).as(save.body()).isEqualTo(200);
    http.result(key, save.json().get("request_id").asString());
    Http.Response full =
        http.post(
            key, "/api/v1/save_weights", Map.of("model_id", model, "seq_id", 2, "path", "two"));
    assertThat(full.status()).isEqualTo(429);
    assertThat(full.json().get("field").asString()).isEqualTo("path");
    assertThat(count("SELECT count(*) FROM checkpoints WHERE tenant_id = ?", tenant)).isEqualTo(1);
  }

  @Test
  void suspensionStopsTheKeysAndResumingRestoresThem() {
    String key = newTenant("quota-suspend");
    String model = newModel(key, newSession(key), 0, 4);
    String tenant = tenantOf(model);
    Http.Response s = http.post(ADMIN, "/admin/v1/tenants/" + tenant + "/suspend", Map.of());
    assertThat(s.status()).isEqualTo(200);
    assertThat(s.json().get("status").asString()).isEqualTo("suspended");
    assertThat(http.post(key, "/api/v1/forward", forward(model, 1, "hello")).status())
        .isEqualTo(401);
    assertThat(http.post(ADMIN, "/admin/v1/tenants/" + tenant + "/resume", Map.of()).status())
        .isEqualTo(200);
    assertThat(http.post(key, "/api/v1/forward", forward(model, 1, "hello")).status())
        .isEqualTo(200);
  }

  @Test
  void badQuotasAreRefusedByName() {
    String key = newTenant("quota-bad");
    String tenant = tenantOf(newModel(key, newSession(key), 0, 4));
    Http.Response bad = quotas(tenant, -1, null, null);
    assertThat(bad.status()).isEqualTo(400);
    assertThat(bad.json().get("field").asString()).isEqualTo("max_adapters");
    assertThat(quotas("tnt-nope", 1, null, null).status()).isEqualTo(404);
    assertThat(http.post(ADMIN, "/admin/v1/tenants/tnt-nope/suspend", Map.of()).status())
        .isEqualTo(404);
    assertThat(http.put(key, "/admin/v1/tenants/" + tenant + "/quotas", Map.of()).status())
        .isEqualTo(401);
  }

  static Map<String, Object> forward(String model, int seq, String text) {
    return Map.of(
        "model_id",
        model,
        "seq_id",
        seq,
        "forward_input",
        Map.of("loss_fn", "cross_entropy", "data", java.util.List.of(datum(text))));
  }
}
