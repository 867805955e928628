package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import java.util.Map;

/**
 * {@code POST /api/v1/create_model}: starts a training run (a LoRA adapter) on a base model. The
 * current SDK names the run's optimizer family in {@code optimizer_config} ({@code adamw}).
 */
@Wire
public record CreateModelRequest(
    String sessionId,
    Integer modelSeqId,
    String baseModel,
    Map<String, Object> userMetadata,
    LoraConfig loraConfig,
    OptimizerConfig optimizerConfig) {

  @JsonProperty("type")
  public String type() {
    return "create_model";
  }
}
