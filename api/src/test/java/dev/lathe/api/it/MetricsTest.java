package dev.lathe.api.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Prometheus sees requests, primitives, tenants, the queue, cycles and the adapter cache. */
class MetricsTest extends ApiTestBase {

  @Test
  void aShortLoopShowsUpInPrometheus() {
    String key = newTenant("metrics");
    String model = newModel(key, newSession(key), 0, 4);
    String tenant = tenantOf(model);
    for (int seq = 1; seq <= 4; seq += 2) {
      String fb =
          http.post(key, "/api/v1/forward_backward", forwardBackward(model, seq, datum("metrics!")))
              .json()
              .get("request_id")
              .asString();
      String opt =
          http.post(key, "/api/v1/optim_step", optimStep(model, seq + 1, 1e-3))
              .json()
              .get("request_id")
              .asString();
      http.result(key, fb);
      http.result(key, opt);
    }

    Http.Response scrape = http.get(null, "/actuator/prometheus");
    assertThat(scrape.status()).isEqualTo(200);
    String text = scrape.body();
    // 2 forward_backward of 7 tokens each ("metrics!": 8 bytes, 7 inputs).
    assertThat(
            value(
                text,
                "lathe_tenant_tokens_total\\{kind=\"forward_backward\",tenant=\""
                    + tenant
                    + "\"\\}"))
        .isEqualTo(14.0);
    assertThat(
            value(
                text,
                "lathe_tenant_requests_total\\{kind=\"optim_step\",outcome=\"done\",tenant=\""
                    + tenant
                    + "\"\\}"))
        .isEqualTo(2.0);
    assertThat(
            value(
                text,
                "lathe_request_run_seconds_count\\{kind=\"forward_backward\",outcome=\"done\"\\}"))
        .isGreaterThanOrEqualTo(2);
    assertThat(value(text, "lathe_request_queue_wait_seconds_count\\{kind=\"optim_step\"\\}"))
        .isGreaterThanOrEqualTo(2);
    assertThat(value(text, "lathe_worker_cycle_seconds_count\\{base_model=\"lathe-tiny\"\\}"))
        .isPositive();
    assertThat(value(text, "lathe_worker_fused_requests_count\\{base_model=\"lathe-tiny\"\\}"))
        .isPositive();
    assertThat(
            value(
                text, "lathe_adapters_hits_total\\{base_model=\"lathe-tiny\",tier=\"resident\"\\}"))
        .isPositive();
    assertThat(text).contains("lathe_queue_depth{kind=\"forward_backward\",status=\"pending\"}");
    assertThat(text).contains("lathe_storage_bytes ");
    assertThat(text)
        .containsPattern(
            "http_server_requests_seconds_count\\{[^}]*uri=\"/api/v1/forward_backward\"");

    Http.Response ready = http.get(null, "/actuator/health/readiness");
    assertThat(ready.status()).isEqualTo(200);
    assertThat(ready.json().get("status").asString()).isEqualTo("UP");
    assertThat(http.get(null, "/actuator/health/liveness").status()).isEqualTo(200);
  }

  private String tenantOf(String model) {
    return new org.springframework.jdbc.core.JdbcTemplate(dataSource)
        .queryForObject("SELECT tenant_id FROM training_runs WHERE id = ?", String.class, model);
  }

  private static double value(String text, String series) {
    Matcher m = Pattern.compile("(?m)^" + series + " ([0-9.eE+-]+)$").matcher(text);
    assertThat(m.find())
        .as("series %s in\n%s", series, text.lines().filter(l -> l.startsWith("lathe_")).toList())
        .isTrue();
    return Double.parseDouble(m.group(1));
  }
}
