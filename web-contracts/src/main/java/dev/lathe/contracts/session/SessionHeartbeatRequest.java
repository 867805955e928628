package dev.lathe.contracts.session;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/** {@code POST /api/v1/session_heartbeat}: the SDK sends one every 10 s. */
@Wire
public record SessionHeartbeatRequest(String sessionId) {

  @JsonProperty("type")
  public String type() {
    return "session_heartbeat";
  }
}
