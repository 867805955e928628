package dev.lathe.contracts.system;

import dev.lathe.contracts.Wire;

/** {@code GET /api/v1/healthz}. */
@Wire
public record HealthResponse(String status) {

  public static HealthResponse ok() {
    return new HealthResponse("ok");
  }
}
