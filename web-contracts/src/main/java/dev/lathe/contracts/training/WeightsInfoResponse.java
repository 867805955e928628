package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;

/** The base model and LoRA configuration behind a checkpoint. */
@Wire
public record WeightsInfoResponse(
    String baseModel,
    Boolean isLora,
    Integer loraRank,
    Boolean trainUnembed,
    Boolean trainMlp,
    Boolean trainAttn) {}
