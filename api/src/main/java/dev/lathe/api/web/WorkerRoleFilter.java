package dev.lathe.api.web;

import dev.lathe.api.config.LatheProperties;
import jakarta.servlet.FilterChain;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * A process in the worker role serves only {@code /actuator} (health and metrics): the REST API,
 * the dashboard and the API docs answer 404, so that a worker reached by mistake is not taken for
 * an api process.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE)
class WorkerRoleFilter extends OncePerRequestFilter {

  private static final byte[] BODY =
      ("{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,"
              + "\"detail\":\"this process runs the worker role; the REST API is served by api"
              + " processes\"}")
          .getBytes(StandardCharsets.UTF_8);

  private final boolean workerOnly;

  WorkerRoleFilter(LatheProperties props) {
    this.workerOnly = !props.role().runsApi();
  }

  @Override
  protected boolean shouldNotFilter(HttpServletRequest req) {
    return !workerOnly || req.getRequestURI().startsWith("/actuator/");
  }

  @Override
  protected void doFilterInternal(
      HttpServletRequest req, HttpServletResponse res, FilterChain chain) throws IOException {
    res.setStatus(HttpServletResponse.SC_NOT_FOUND);
    res.setContentType("application/problem+json");
    res.setContentLength(BODY.length);
    res.getOutputStream().write(BODY);
  }
}
