package dev.lathe.contracts.sampling;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/** {@code POST /api/v1/create_sampling_session}: pins a base model or sampler checkpoint. */
@Wire
public record CreateSamplingSessionRequest(
    String sessionId, Integer samplingSessionSeqId, String baseModel, String modelPath) {

  @JsonProperty("type")
  public String type() {
    return "create_sampling_session";
  }
}
