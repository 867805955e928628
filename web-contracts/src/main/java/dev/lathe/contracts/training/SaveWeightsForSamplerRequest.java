package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/**
 * {@code POST /api/v1/save_weights_for_sampler}: the adapter alone, for sampling. With {@code
 * sampling_session_seq_id} and no path it yields a sampling session instead of a named file.
 */
@Wire
public record SaveWeightsForSamplerRequest(
    String modelId, String path, Integer samplingSessionSeqId, Integer seqId, Long ttlSeconds) {

  @JsonProperty("type")
  public String type() {
    return "save_weights_for_sampler";
  }
}
