package dev.lathe.api.web;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;
import org.springframework.web.util.ContentCachingResponseWrapper;

/**
 * Sends every API answer with a Content-Length. The Tinker SDK reads a 400 without one as a proxy's
 * rejection and retries it for minutes instead of showing the error.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE)
class ContentLengthFilter extends OncePerRequestFilter {

  @Override
  protected boolean shouldNotFilter(HttpServletRequest req) {
    String uri = req.getRequestURI();
    return !(uri.startsWith("/api/") || uri.startsWith("/admin/v1/"));
  }

  @Override
  protected void doFilterInternal(
      HttpServletRequest req, HttpServletResponse res, FilterChain chain)
      throws ServletException, IOException {
    ContentCachingResponseWrapper wrapper = new ContentCachingResponseWrapper(res);
    try {
      chain.doFilter(req, wrapper);
    } finally {
      wrapper.copyBodyToResponse();
    }
  }
}
