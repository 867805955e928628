package dev.lathe.contracts.future;

import dev.lathe.contracts.Wire;

/** {@code POST /api/v1/retrieve_future}. */
@Wire
public record FutureRetrieveRequest(String requestId, Boolean allowMetadataOnly) {

  public FutureRetrieveRequest {
    allowMetadataOnly = allowMetadataOnly == null ? Boolean.FALSE : allowMetadataOnly;
  }
}
