package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;

/** Result of {@code save_weights}: {@code tinker://<model_id>/weights/<name>}. */
@Wire
public record SaveWeightsResponse(String path, String type) {

  public static SaveWeightsResponse of(String path) {
    return new SaveWeightsResponse(path, "save_weights");
  }
}
