package dev.lathe.api.auth;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.slf4j.MDC;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import org.springframework.web.servlet.HandlerInterceptor;

/**
 * {@code X-API-Key} on every call: tenant keys for {@code /api/v1}, admin keys for {@code
 * /admin/v1}. A missing, unknown, revoked or suspended key is a 401.
 */
@Component
class AuthInterceptor implements HandlerInterceptor {

  static final String HEADER = "X-API-Key";

  private final KeyStore keys;

  AuthInterceptor(KeyStore keys) {
    this.keys = keys;
  }

  @Override
  public boolean preHandle(HttpServletRequest req, HttpServletResponse res, Object handler) {
    String key = req.getHeader(HEADER);
    if (key == null || key.isBlank()) {
      key = bearer(req.getHeader("Authorization"));
    }
    if (key == null || key.isBlank()) {
      throw new Unauthorized("the X-API-Key header is required");
    }
    if (req.getRequestURI().startsWith("/admin/")) {
      if (!keys.isAdmin(key)) {
        throw new Unauthorized("X-API-Key is not a valid admin key");
      }
      return true;
    }
    Caller caller =
        keys.tenant(key).orElseThrow(() -> new Unauthorized("X-API-Key is not a valid API key"));
    req.setAttribute(Caller.ATTRIBUTE, caller);
    MDC.put("tenant", caller.tenantId());
    return true;
  }

  @Override
  public void afterCompletion(
      HttpServletRequest req, HttpServletResponse res, Object handler, Exception ex) {
    MDC.remove("tenant");
  }

  private static String bearer(String header) {
    return header != null && header.startsWith("Bearer ") ? header.substring(7).strip() : null;
  }

  /** A 401. */
  static final class Unauthorized extends dev.lathe.api.web.ApiException {
    Unauthorized(String message) {
      super(HttpStatus.UNAUTHORIZED, "X-API-Key", message);
    }
  }
}
