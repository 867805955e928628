package dev.lathe.contracts.future;

import dev.lathe.contracts.Wire;

/** {@code retrieve_future} for a request that failed in the engine (always HTTP 200). */
@Wire
public record RequestFailedResponse(String error, ErrorCategory category) {}
