package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/** Result of an {@code unload_model} future. */
@Wire
public record UnloadModelResponse(String modelId) {

  @JsonProperty("type")
  public String type() {
    return "unload_model";
  }
}
