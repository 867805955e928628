package dev.lathe.contracts.session;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import java.util.List;
import java.util.Map;

/**
 * {@code POST /api/v1/create_session}; {@code display_name} is for people, it need not be unique.
 */
@Wire
public record CreateSessionRequest(
    List<String> tags,
    Map<String, Object> userMetadata,
    String sdkVersion,
    String projectId,
    String displayName) {

  public CreateSessionRequest {
    tags = tags == null ? List.of() : tags;
  }

  @JsonProperty("type")
  public String type() {
    return "create_session";
  }
}
