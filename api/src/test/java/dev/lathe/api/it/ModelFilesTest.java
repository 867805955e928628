package dev.lathe.api.it;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The served model's tokenizer files over HTTP, for clients without a model hub. */
class ModelFilesTest extends ApiTestBase {

  @Test
  void theServedModelsTokenizerIsThere() {
    String key = newTenant("model-files");
    Http.Response t = http.get(key, "/api/v1/models/lathe-tiny/tokenizer");
    assertThat(t.status()).as(t.body()).isEqualTo(200);
    assertThat(t.contentType()).startsWith("application/json");
    assertThat(t.json().get("model").get("type").asString()).isEqualTo("BPE");
    assertThat(t.json().get("model").get("vocab").size()).isGreaterThan(255);

    // lathe-tiny has no chat template: a 404 that says so, as for a model not served here.
    Http.Response template = http.get(key, "/api/v1/models/lathe-tiny/chat_template");
    assertThat(template.status()).isEqualTo(404);
    assertThat(template.body()).contains("chat_template of lathe-tiny not found");
    Http.Response other = http.get(key, "/api/v1/models/llama-70b/tokenizer");
    assertThat(other.status()).isEqualTo(404);
    assertThat(other.json().get("field").asString()).isEqualTo("base_model");
    assertThat(http.get(null, "/api/v1/models/lathe-tiny/tokenizer").status()).isEqualTo(401);
  }
}
