package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/** {@code POST /api/v1/unload_model}: frees a training run's adapter from the worker. */
@Wire
public record UnloadModelRequest(String modelId) {

  @JsonProperty("type")
  public String type() {
    return "unload_model";
  }
}
