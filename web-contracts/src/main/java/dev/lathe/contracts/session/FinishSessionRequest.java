package dev.lathe.contracts.session;

import dev.lathe.contracts.Wire;

/**
 * {@code POST /api/v1/sessions/{id}/finish}: the current SDK's {@code ServiceClient.close}, with
 * how the client's work ended ({@code reason.type}, e.g. {@code success}) and a free-form detail.
 */
@Wire
public record FinishSessionRequest(Reason reason, String detail) {

  /** Why the session ended. */
  @Wire
  public record Reason(String type) {}
}
