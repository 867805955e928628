package dev.lathe.contracts.system;

import dev.lathe.contracts.Wire;
import java.util.List;

/** {@code GET /api/v1/get_server_capabilities}. */
@Wire
public record ServerCapabilities(List<SupportedModel> supportedModels) {

  public ServerCapabilities {
    supportedModels = supportedModels == null ? List.of() : List.copyOf(supportedModels);
  }

  /** A base model this server trains and samples. */
  @Wire
  public record SupportedModel(String modelName, Integer maxContextLength) {}
}
