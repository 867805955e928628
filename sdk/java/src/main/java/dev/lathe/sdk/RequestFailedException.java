package dev.lathe.sdk;

import tools.jackson.databind.JsonNode;

/** A request the server accepted failed when it ran. */
public final class RequestFailedException extends LatheException {

  private final String requestId;

  RequestFailedException(String requestId, String error, String category, JsonNode body) {
    super(0, category, null, "request " + requestId + ": " + error, body);
    this.requestId = requestId;
  }

  public String requestId() {
    return requestId;
  }
}
