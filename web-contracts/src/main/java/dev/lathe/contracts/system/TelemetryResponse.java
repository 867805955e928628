package dev.lathe.contracts.system;

import dev.lathe.contracts.Wire;

/** Answer to {@code /api/v1/telemetry}. */
@Wire
public record TelemetryResponse(String status) {

  public static TelemetryResponse accepted() {
    return new TelemetryResponse("accepted");
  }
}
