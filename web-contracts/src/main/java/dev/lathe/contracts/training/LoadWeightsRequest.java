package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import java.util.Map;

/**
 * {@code POST /api/v1/load_weights}: loads a {@code tinker://} checkpoint into a training run,
 * optionally with its optimizer state.
 */
@Wire
public record LoadWeightsRequest(
    String modelId,
    Integer seqId,
    String sessionId,
    Integer modelSeqId,
    String baseModel,
    Map<String, Object> userMetadata,
    String path,
    Boolean optimizer,
    String weightsAccessToken,
    OptimizerConfig optimizerConfig) {

  @JsonProperty("type")
  public String type() {
    return "load_weights";
  }
}
