package dev.lathe.api.web;

import dev.lathe.contracts.proto.ProtoException;
import jakarta.servlet.http.HttpServletRequest;
import java.net.URI;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.http.converter.HttpMessageNotReadableException;
import org.springframework.web.HttpMediaTypeNotSupportedException;
import org.springframework.web.HttpRequestMethodNotSupportedException;
import org.springframework.web.bind.MissingServletRequestParameterException;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.method.annotation.MethodArgumentTypeMismatchException;
import org.springframework.web.servlet.resource.NoResourceFoundException;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.DatabindException;

/** Every refusal as {@code application/problem+json} naming the field, never an empty body. */
@RestControllerAdvice
class ProblemHandler {

  private static final Logger log = LoggerFactory.getLogger(ProblemHandler.class);

  @ExceptionHandler(ApiException.class)
  ResponseEntity<ProblemDetail> api(ApiException e, HttpServletRequest req) {
    ResponseEntity<ProblemDetail> r = problem(e.status(), e.field(), e.getMessage(), req);
    return e.retryAfterSeconds() == null ? r : retryAfter(r, e.retryAfterSeconds());
  }

  /** The refusal with a Retry-After, for a client to try again then. */
  private static ResponseEntity<ProblemDetail> retryAfter(
      ResponseEntity<ProblemDetail> r, long seconds) {
    return ResponseEntity.status(r.getStatusCode())
        .headers(r.getHeaders())
        .header(HttpHeaders.RETRY_AFTER, Long.toString(seconds))
        .body(r.getBody());
  }

  /** A protobuf body that decodes but does not describe a valid call. */
  @ExceptionHandler(ProtoException.class)
  ResponseEntity<ProblemDetail> proto(ProtoException e, HttpServletRequest req) {
    return problem(HttpStatus.BAD_REQUEST, e.field(), e.getMessage(), req);
  }

  @ExceptionHandler(HttpMessageNotReadableException.class)
  ResponseEntity<ProblemDetail> unreadable(
      HttpMessageNotReadableException e, HttpServletRequest req) {
    BodySizeFilter.TooLarge tooLarge = BodySizeFilter.causedByLimit(e);
    if (tooLarge != null) {
      return problem(HttpStatus.CONTENT_TOO_LARGE, null, tooLarge.getMessage(), req);
    }
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof BodySizeFilter.BadEncoding bad) {
        return problem(HttpStatus.BAD_REQUEST, HttpHeaders.CONTENT_ENCODING, bad.getMessage(), req);
      }
    }
    DatabindException bind = null;
    JacksonException parse = null;
    IllegalArgumentException reason = null;
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof DatabindException d && bind == null && !d.getPath().isEmpty()) {
        bind = d;
      } else if (t instanceof JacksonException j && parse == null) {
        parse = j;
      }
      if (t instanceof IllegalArgumentException iae) {
        reason = iae;
      }
    }
    if (bind != null) {
      String field = path(bind);
      String why = reason != null ? reason.getMessage() : bind.getOriginalMessage();
      return problem(HttpStatus.BAD_REQUEST, field, field + ": " + firstLine(why), req);
    }
    if (parse != null) {
      return problem(
          HttpStatus.BAD_REQUEST,
          "body",
          "body is not valid JSON: " + firstLine(parse.getOriginalMessage()),
          req);
    }
    return problem(HttpStatus.BAD_REQUEST, "body", "body is missing or unreadable", req);
  }

  @ExceptionHandler(MethodArgumentTypeMismatchException.class)
  ResponseEntity<ProblemDetail> mismatch(
      MethodArgumentTypeMismatchException e, HttpServletRequest req) {
    return problem(HttpStatus.BAD_REQUEST, e.getName(), e.getName() + ": not a valid value", req);
  }

  @ExceptionHandler(MissingServletRequestParameterException.class)
  ResponseEntity<ProblemDetail> missing(
      MissingServletRequestParameterException e, HttpServletRequest req) {
    return problem(
        HttpStatus.BAD_REQUEST, e.getParameterName(), e.getParameterName() + " is required", req);
  }

  @ExceptionHandler(HttpMediaTypeNotSupportedException.class)
  ResponseEntity<ProblemDetail> mediaType(
      HttpMediaTypeNotSupportedException e, HttpServletRequest req) {
    String supported =
        e.getSupportedMediaTypes().isEmpty()
            ? "application/json"
            : e.getSupportedMediaTypes().stream()
                .map(MediaType::toString)
                .collect(Collectors.joining(" or "));
    return problem(
        HttpStatus.UNSUPPORTED_MEDIA_TYPE,
        HttpHeaders.CONTENT_TYPE,
        "send the body as " + supported,
        req);
  }

  @ExceptionHandler(HttpRequestMethodNotSupportedException.class)
  ResponseEntity<ProblemDetail> method(
      HttpRequestMethodNotSupportedException e, HttpServletRequest req) {
    return problem(
        HttpStatus.METHOD_NOT_ALLOWED, null, e.getMethod() + " is not allowed here", req);
  }

  @ExceptionHandler(NoResourceFoundException.class)
  ResponseEntity<ProblemDetail> noResource(NoResourceFoundException e, HttpServletRequest req) {
    return problem(HttpStatus.NOT_FOUND, null, "no such endpoint: " + req.getRequestURI(), req);
  }

  /** The database is unreachable or too busy to hand out a connection: the client tries again. */
  @ExceptionHandler({
    org.springframework.dao.DataAccessResourceFailureException.class,
    org.springframework.dao.TransientDataAccessException.class
  })
  ResponseEntity<ProblemDetail> unavailable(
      org.springframework.dao.DataAccessException e, HttpServletRequest req) {
    log.warn("{} {}: database unavailable: {}", req.getMethod(), req.getRequestURI(), e.toString());
    return retryAfter(
        problem(
            HttpStatus.SERVICE_UNAVAILABLE, null, "the database is unavailable; try again", req),
        1);
  }

  @ExceptionHandler(Exception.class)
  ResponseEntity<ProblemDetail> unexpected(Exception e, HttpServletRequest req) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.sql.SQLException sql
          && ("22021".equals(sql.getSQLState()) || "22P05".equals(sql.getSQLState()))) {
        // A path or query value, or a map key, with a character PostgreSQL cannot store (JSON
        // string values are refused by field before: NoNulStrings).
        return problem(
            HttpStatus.BAD_REQUEST,
            null,
            "a value holds a character that cannot be stored (U+0000)",
            req);
      }
      if (t instanceof org.apache.tomcat.util.http.InvalidParameterException) {
        return problem(HttpStatus.BAD_REQUEST, "query", "the query string is malformed", req);
      }
    }
    log.error("{} {} failed", req.getMethod(), req.getRequestURI(), e);
    return problem(HttpStatus.INTERNAL_SERVER_ERROR, null, "internal error", req);
  }

  static ResponseEntity<ProblemDetail> problem(
      HttpStatusCode status, String field, String detail, HttpServletRequest req) {
    return problem(status, field, detail, URI.create(req.getRequestURI()));
  }

  /** A refusal about {@code instance} (null: none). */
  static ResponseEntity<ProblemDetail> problem(
      HttpStatusCode status, String field, String detail, URI instance) {
    ProblemDetail p = ProblemDetail.forStatusAndDetail(status, detail);
    p.setInstance(instance);
    if (field != null) {
      p.setProperty("field", field);
    }
    // Tinker's error shape, so that SDKs show the message as it is.
    p.setProperty("error", detail);
    p.setProperty("category", status.is4xxClientError() ? "user" : "server");
    return ResponseEntity.status(status).contentType(MediaType.APPLICATION_PROBLEM_JSON).body(p);
  }

  private static String path(DatabindException d) {
    StringBuilder sb = new StringBuilder();
    for (var ref : d.getPath()) {
      if (ref.getPropertyName() != null) {
        if (!sb.isEmpty()) {
          sb.append('.');
        }
        sb.append(ref.getPropertyName());
      } else if (ref.getIndex() >= 0) {
        sb.append('[').append(ref.getIndex()).append(']');
      }
    }
    return sb.toString();
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "invalid value";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
