package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;

/** Result of a {@code load_weights} future. */
@Wire
public record LoadWeightsResponse(String path, String modelId, String type) {

  public static LoadWeightsResponse of(String path, String modelId) {
    return new LoadWeightsResponse(path, modelId, "load_weights");
  }
}
