package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/** {@code POST /api/v1/get_info}. */
@Wire
public record GetInfoRequest(String modelId) {

  @JsonProperty("type")
  public String type() {
    return "get_info";
  }
}
