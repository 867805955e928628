package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;

/**
 * {@code POST /api/v1/forward_backward}: computes the loss and adds its gradient to the adapter's
 * accumulated gradient. The SDK sends no {@code type} field here.
 */
@Wire
public record ForwardBackwardRequest(
    ForwardBackwardInput forwardBackwardInput, String modelId, Integer seqId) {}
