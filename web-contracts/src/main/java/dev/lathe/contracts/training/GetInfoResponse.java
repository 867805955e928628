package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;

/** What a training run is: its base model, architecture and LoRA rank. */
@Wire
public record GetInfoResponse(
    ModelData modelData,
    String modelId,
    Boolean isLora,
    Integer loraRank,
    String modelName,
    String type) {

  public static GetInfoResponse of(
      ModelData modelData, String modelId, int loraRank, String modelName) {
    return new GetInfoResponse(modelData, modelId, true, loraRank, modelName, "get_info");
  }

  /** The base model's architecture and tokenizer. */
  @Wire
  public record ModelData(String arch, String modelName, String tokenizerId) {}
}
