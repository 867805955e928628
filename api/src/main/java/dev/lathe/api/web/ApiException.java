package dev.lathe.api.web;

import org.springframework.http.HttpStatus;

/**
 * A refused call: its HTTP status, the request field at fault (or null) and a message for the user.
 * Rendered as RFC 9457 problem details with Tinker's {@code error} and {@code category}.
 */
public class ApiException extends RuntimeException {

  private final HttpStatus status;
  private final String field;

  public ApiException(HttpStatus status, String field, String message) {
    super(message);
    this.status = status;
    this.field = field;
  }

  public static ApiException badRequest(String field, String message) {
    return new ApiException(HttpStatus.BAD_REQUEST, field, field + ": " + message);
  }

  /** An id that does not exist, or belongs to another tenant: the two look the same. */
  public static ApiException notFound(String field, String id) {
    return new ApiException(HttpStatus.NOT_FOUND, field, field + " " + id + " not found");
  }

  public static ApiException conflict(String field, String message) {
    return new ApiException(HttpStatus.UNPROCESSABLE_CONTENT, field, field + ": " + message);
  }

  public HttpStatus status() {
    return status;
  }

  public String field() {
    return field;
  }
}
