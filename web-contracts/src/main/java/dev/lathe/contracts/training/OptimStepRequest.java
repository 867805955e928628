package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/** {@code POST /api/v1/optim_step}: applies the accumulated gradient, then clears it. */
@Wire
public record OptimStepRequest(AdamParams adamParams, String modelId, Integer seqId) {

  @JsonProperty("type")
  public String type() {
    return "optim_step";
  }
}
