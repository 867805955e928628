package dev.lathe.sdk;

import tools.jackson.databind.JsonNode;

/**
 * The server refused a call: its HTTP status, the Tinker error category, the request field it
 * names, and the RFC 9457 problem details exactly as the server sent them.
 */
public class LatheException extends RuntimeException {

  private final int status;
  private final String category;
  private final String field;
  private final transient JsonNode problem;

  public LatheException(
      int status, String category, String field, String message, JsonNode problem) {
    super(
        (status > 0 ? "HTTP " + status : "request failed")
            + (field != null ? " (field " + field + ")" : "")
            + ": "
            + message);
    this.status = status;
    this.category = category;
    this.field = field;
    this.problem = problem;
  }

  /** The HTTP status, or 0 when an accepted request failed as it ran. */
  public int status() {
    return status;
  }

  /** {@code user} for a bad request, {@code server} for the server's own failure; may be null. */
  public String category() {
    return category;
  }

  /** The request field the error is about, as a JSON path; may be null. */
  public String field() {
    return field;
  }

  /** The response body as sent; may be null. */
  public JsonNode problem() {
    return problem;
  }
}
