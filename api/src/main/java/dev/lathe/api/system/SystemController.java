package dev.lathe.api.system;

import dev.lathe.api.config.LatheProperties;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.system.ClientConfigResponse;
import dev.lathe.contracts.system.ClientDynamicConfigResponse;
import dev.lathe.contracts.system.ServerCapabilities;
import dev.lathe.contracts.system.TelemetryResponse;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.springframework.core.io.FileSystemResource;
import org.springframework.core.io.Resource;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;
import tools.jackson.databind.JsonNode;

/** What the SDK asks before anything else: flags, served models; and its telemetry. */
@RestController
@RequestMapping("/api/v1")
class SystemController {

  private final ServedModel model;
  private final LatheProperties.Limits limits;

  SystemController(ServedModel model, LatheProperties props) {
    this.model = model;
    this.limits = props.limits();
  }

  @PostMapping("/client/config")
  ClientConfigResponse clientConfig() {
    return ClientConfigResponse.of(
        limits.zstdForwardBackward(), limits.maxDatums(), limits.maxBodyBytes());
  }

  @PostMapping("/client/dynamic_config")
  ClientDynamicConfigResponse dynamicConfig() {
    return ClientDynamicConfigResponse.lathe();
  }

  @GetMapping("/get_server_capabilities")
  ServerCapabilities capabilities() {
    return new ServerCapabilities(
        List.of(new ServerCapabilities.SupportedModel(model.name(), model.maxContextLength())));
  }

  /**
   * The served model's {@code tokenizer.json}, so that no client needs a model hub: the {@code
   * lathe} SDKs' {@code get_tokenizer()} load it, and {@code get_info} names the model as its
   * {@code tokenizer_id}.
   */
  @GetMapping("/models/{baseModel}/tokenizer")
  ResponseEntity<Resource> tokenizer(@PathVariable String baseModel) {
    return file(baseModel, "tokenizer.json");
  }

  /** The served model's {@code tokenizer_config.json}: special tokens and chat template. */
  @GetMapping("/models/{baseModel}/tokenizer_config")
  ResponseEntity<Resource> tokenizerConfig(@PathVariable String baseModel) {
    return file(baseModel, "tokenizer_config.json");
  }

  /** The served model's chat template (Jinja), as {@code {"chat_template": ...}}. */
  @GetMapping("/models/{baseModel}/chat_template")
  Map<String, String> chatTemplate(@PathVariable String baseModel) throws IOException {
    served(baseModel);
    Path config = model.dir().resolve("tokenizer_config.json");
    JsonNode template =
        Files.isRegularFile(config)
            ? WireJson.mapper().readTree(config.toFile()).get("chat_template")
            : null;
    if (template == null || !template.isString()) {
      throw ApiException.notFound("chat_template of", baseModel);
    }
    return Map.of("chat_template", template.asString());
  }

  private ResponseEntity<Resource> file(String baseModel, String name) {
    served(baseModel);
    Path file = model.dir().resolve(name);
    if (!Files.isRegularFile(file)) {
      throw ApiException.notFound(name + " of", baseModel);
    }
    return ResponseEntity.ok()
        .contentType(MediaType.APPLICATION_JSON)
        .body(new FileSystemResource(file));
  }

  private void served(String baseModel) {
    if (!model.name().equals(baseModel)) {
      throw ApiException.notFound("base_model", baseModel);
    }
  }

  /** SDK telemetry is accepted and dropped: Lathe keeps its own metrics. */
  @PostMapping("/telemetry")
  TelemetryResponse telemetry() {
    return TelemetryResponse.accepted();
  }
}
