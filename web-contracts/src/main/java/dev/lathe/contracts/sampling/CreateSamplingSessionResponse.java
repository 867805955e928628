package dev.lathe.contracts.sampling;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/** Answer to {@code create_sampling_session}. */
@Wire
public record CreateSamplingSessionResponse(String samplingSessionId) {

  @JsonProperty("type")
  public String type() {
    return "create_sampling_session";
  }
}
