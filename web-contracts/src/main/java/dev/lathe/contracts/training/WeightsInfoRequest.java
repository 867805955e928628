package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;

/** {@code POST /api/v1/weights_info}: what a checkpoint was trained as. */
@Wire
public record WeightsInfoRequest(String tinkerPath) {}
