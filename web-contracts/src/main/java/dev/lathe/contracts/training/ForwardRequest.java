package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;

/** {@code POST /api/v1/forward}: the loss and its outputs, no gradient. */
@Wire
public record ForwardRequest(ForwardBackwardInput forwardInput, String modelId, Integer seqId) {}
