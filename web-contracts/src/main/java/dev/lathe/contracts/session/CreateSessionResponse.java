package dev.lathe.contracts.session;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/** Answer to {@code create_session}; the messages are shown to the user by the SDK. */
@Wire
public record CreateSessionResponse(
    String sessionId, String infoMessage, String warningMessage, String errorMessage) {

  public static CreateSessionResponse of(String sessionId) {
    return new CreateSessionResponse(sessionId, null, null, null);
  }

  @JsonProperty("type")
  public String type() {
    return "create_session";
  }
}
