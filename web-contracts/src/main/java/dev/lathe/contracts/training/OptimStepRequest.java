package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import java.util.Map;

/**
 * {@code POST /api/v1/optim_step}: applies the accumulated gradient, then clears it. The current
 * SDK sends the parameters of optimizers other than Adam as {@code optimizer_params}.
 */
@Wire
public record OptimStepRequest(
    AdamParams adamParams, Map<String, Object> optimizerParams, String modelId, Integer seqId) {

  public OptimStepRequest(AdamParams adamParams, String modelId, Integer seqId) {
    this(adamParams, null, modelId, seqId);
  }

  @JsonProperty("type")
  public String type() {
    return "optim_step";
  }
}
