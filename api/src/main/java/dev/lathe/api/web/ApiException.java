package dev.lathe.api.web;

import org.springframework.http.HttpStatus;

/**
 * A refused call: its HTTP status, the request field at fault (or null) and a message for the user.
 * Rendered as RFC 9457 problem details with Tinker's {@code error} and {@code category}.
 */
public class ApiException extends RuntimeException {

  private final HttpStatus status;
  private final String field;
  private final Long retryAfterSeconds;

  public ApiException(HttpStatus status, String field, String message) {
    this(status, field, message, null);
  }

  private ApiException(HttpStatus status, String field, String message, Long retryAfterSeconds) {
    super(message);
    this.status = status;
    this.field = field;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** A 429: a rate or quota of the tenant is used up; try again after that many seconds. */
  public static ApiException tooMany(String field, String message, long retryAfterSeconds) {
    return new ApiException(
        HttpStatus.TOO_MANY_REQUESTS, field, field + ": " + message, retryAfterSeconds);
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

  /** Seconds for the Retry-After header, or null. */
  public Long retryAfterSeconds() {
    return retryAfterSeconds;
  }
}
