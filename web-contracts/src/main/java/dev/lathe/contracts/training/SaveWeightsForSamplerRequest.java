package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import java.util.Map;

/**
 * {@code POST /api/v1/save_weights_for_sampler}: the adapter alone, for sampling. With {@code
 * sampling_session_seq_id} and no path it yields a sampling session instead of a named file. The
 * current SDK also sends {@code kind}: {@code snapshot} (fixed weights, what Lathe saves) or {@code
 * inflight}.
 */
@Wire
public record SaveWeightsForSamplerRequest(
    String modelId,
    String path,
    Integer samplingSessionSeqId,
    Integer seqId,
    Long ttlSeconds,
    String kind,
    Map<String, String> userMetadata) {

  public SaveWeightsForSamplerRequest(
      String modelId, String path, Integer samplingSessionSeqId, Integer seqId, Long ttlSeconds) {
    this(modelId, path, samplingSessionSeqId, seqId, ttlSeconds, null, null);
  }

  @JsonProperty("type")
  public String type() {
    return "save_weights_for_sampler";
  }
}
