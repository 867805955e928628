package dev.lathe.contracts.session;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/** Answer to {@code session_heartbeat}. */
@Wire
public record SessionHeartbeatResponse() {

  @JsonProperty("type")
  public String type() {
    return "session_heartbeat";
  }
}
