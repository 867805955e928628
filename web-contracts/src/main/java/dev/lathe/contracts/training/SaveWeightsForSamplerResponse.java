package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;

/** Result of {@code save_weights_for_sampler}: a sampler path or a sampling session id. */
@Wire
public record SaveWeightsForSamplerResponse(String path, String samplingSessionId, String type) {

  public static SaveWeightsForSamplerResponse ofPath(String path) {
    return new SaveWeightsForSamplerResponse(path, null, "save_weights_for_sampler");
  }

  public static SaveWeightsForSamplerResponse ofSamplingSession(String samplingSessionId) {
    return new SaveWeightsForSamplerResponse(null, samplingSessionId, "save_weights_for_sampler");
  }
}
