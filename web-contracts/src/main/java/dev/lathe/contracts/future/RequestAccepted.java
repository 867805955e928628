package dev.lathe.contracts.future;

import dev.lathe.contracts.Wire;

/** The answer to every async call: the future to poll (the SDK's {@code UntypedAPIFuture}). */
@Wire
public record RequestAccepted(String requestId, String modelId) {}
