package dev.lathe.api.system;

import io.swagger.v3.oas.models.Components;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.info.Info;
import io.swagger.v3.oas.models.security.SecurityRequirement;
import io.swagger.v3.oas.models.security.SecurityScheme;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The OpenAPI description at /v3/api-docs (Swagger UI at /swagger-ui.html). */
@Configuration(proxyBeanMethods = false)
class OpenApiConfiguration {

  @Bean
  OpenAPI latheOpenApi() {
    SecurityScheme key =
        new SecurityScheme()
            .type(SecurityScheme.Type.APIKEY)
            .in(SecurityScheme.In.HEADER)
            .name("X-API-Key")
            .description("tml-… tenant keys for /api/v1, lta-… admin keys for /admin/v1");
    return new OpenAPI()
        .info(
            new Info()
                .title("Lathe")
                .version("0.1.0")
                .description(
                    "Tinker-compatible fine-tuning API: async calls return a request_id; poll"
                        + " /api/v1/retrieve_future for the result."))
        .components(new Components().addSecuritySchemes("api-key", key))
        .addSecurityItem(new SecurityRequirement().addList("api-key"));
  }
}
