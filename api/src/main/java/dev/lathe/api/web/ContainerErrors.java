package dev.lathe.api.web;

import jakarta.servlet.RequestDispatcher;
import jakarta.servlet.http.HttpServletRequest;
import java.net.URI;
import org.springframework.boot.webmvc.error.ErrorController;
import org.springframework.http.HttpStatus;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * Errors the servlet container raises before any controller runs (a TRACE request, a malformed URI
 * or header, an error a filter sends) answered as problem details like every other refusal, rather
 * than as Spring Boot's default error JSON.
 */
@RestController
@io.swagger.v3.oas.annotations.Hidden
class ContainerErrors implements ErrorController {

  @RequestMapping("/error")
  ResponseEntity<ProblemDetail> error(HttpServletRequest req) {
    HttpStatus status =
        req.getAttribute(RequestDispatcher.ERROR_STATUS_CODE) instanceof Integer code
            ? HttpStatus.resolve(code)
            : null;
    if (status == null) {
      status = HttpStatus.INTERNAL_SERVER_ERROR;
    }
    String uri =
        req.getAttribute(RequestDispatcher.ERROR_REQUEST_URI) instanceof String s
            ? s
            : req.getRequestURI();
    String detail =
        switch (status) {
          case METHOD_NOT_ALLOWED -> req.getMethod() + " is not allowed here";
          case BAD_REQUEST -> "the request is malformed";
          default -> status.getReasonPhrase();
        };
    URI instance;
    try {
      instance = URI.create(uri);
    } catch (IllegalArgumentException e) {
      instance = null; // a URI the container could not parse stays out of the answer
    }
    return ProblemHandler.problem(
        status, status == HttpStatus.BAD_REQUEST ? "request" : null, detail, instance);
  }
}
