package dev.lathe.api.it;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/** The OpenAPI description lists the primitives and how to authenticate; Swagger UI is served. */
class OpenApiTest extends ApiTestBase {

  @Test
  void apiDocsDescribeThePrimitivesAndTheKeyHeader() {
    Http.Response docs = http.get(null, "/v3/api-docs");
    assertThat(docs.status()).as(docs.body()).isEqualTo(200);
    JsonNode paths = docs.json().get("paths");
    for (String p :
        new String[] {
          "/api/v1/forward_backward",
          "/api/v1/optim_step",
          "/api/v1/asample",
          "/api/v1/save_weights",
          "/api/v1/retrieve_future",
          "/api/v1/adapter_diagnostics",
          "/api/v1/merged_export",
          "/admin/v1/tenants"
        }) {
      assertThat(paths.has(p)).as(p).isTrue();
    }
    JsonNode scheme = docs.json().get("components").get("securitySchemes").get("api-key");
    assertThat(scheme.get("name").asString()).isEqualTo("X-API-Key");
    assertThat(http.get(null, "/swagger-ui/index.html").status()).isEqualTo(200);
  }
}
