package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/** Result of a {@code create_model} future. */
@Wire
public record CreateModelResponse(String modelId) {

  @JsonProperty("type")
  public String type() {
    return "create_model";
  }
}
