package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import java.util.Map;

/** {@code POST /api/v1/save_weights}: a resumable checkpoint (adapter and optimizer state). */
@Wire
public record SaveWeightsRequest(
    String modelId,
    String path,
    Integer seqId,
    Long ttlSeconds,
    Boolean overwrite,
    Map<String, String> userMetadata) {

  public SaveWeightsRequest(
      String modelId, String path, Integer seqId, Long ttlSeconds, Boolean overwrite) {
    this(modelId, path, seqId, ttlSeconds, overwrite, null);
  }

  public SaveWeightsRequest {
    overwrite = overwrite == null ? Boolean.FALSE : overwrite;
  }

  @JsonProperty("type")
  public String type() {
    return "save_weights";
  }
}
