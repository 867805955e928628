package dev.lathe.api.web;

import dev.lathe.api.config.LatheProperties;
import dev.lathe.contracts.WireJson;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/** Refuses bodies over {@code lathe.limits.max-body-bytes} with a 413, declared or streamed. */
@Component
class BodySizeFilter extends OncePerRequestFilter {

  private final long limit;

  BodySizeFilter(LatheProperties props) {
    this.limit = props.limits().maxBodyBytes();
  }

  @Override
  protected void doFilterInternal(
      HttpServletRequest req, HttpServletResponse res, FilterChain chain)
      throws ServletException, IOException {
    if (req.getContentLengthLong() > limit) {
      tooLarge(req, res);
      return;
    }
    try {
      chain.doFilter(new Limited(req, limit), res);
    } catch (ServletException | RuntimeException e) {
      if (causedByLimit(e) && !res.isCommitted()) {
        res.reset();
        tooLarge(req, res);
        return;
      }
      throw e;
    }
  }

  private void tooLarge(HttpServletRequest req, HttpServletResponse res) throws IOException {
    String detail = "request body is larger than " + limit + " bytes";
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("type", "about:blank");
    body.put("title", HttpStatus.CONTENT_TOO_LARGE.getReasonPhrase());
    body.put("status", HttpStatus.CONTENT_TOO_LARGE.value());
    body.put("detail", detail);
    body.put("instance", req.getRequestURI());
    body.put("error", detail);
    body.put("category", "user");
    res.setStatus(HttpStatus.CONTENT_TOO_LARGE.value());
    res.setContentType("application/problem+json");
    res.setCharacterEncoding("UTF-8");
    res.getWriter().write(WireJson.mapper().writeValueAsString(body));
  }

  private static boolean causedByLimit(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof TooLarge) {
        return true;
      }
    }
    return false;
  }

  /** Thrown when a streamed body passes the limit. */
  static final class TooLarge extends IOException {
    TooLarge() {
      super("request body too large");
    }
  }

  /** Counts what is read of the body. */
  private static final class Limited extends HttpServletRequestWrapper {
    private final long limit;
    private ServletInputStream stream;

    Limited(HttpServletRequest req, long limit) {
      super(req);
      this.limit = limit;
    }

    @Override
    public ServletInputStream getInputStream() throws IOException {
      if (stream == null) {
        ServletInputStream in = super.getInputStream();
        stream =
            new ServletInputStream() {
              long read;

              @Override
              public int read() throws IOException {
                int b = in.read();
                if (b >= 0 && ++read > limit) {
                  throw new TooLarge();
                }
                return b;
              }

              @Override
              public int read(byte[] buf, int off, int len) throws IOException {
                int n = in.read(buf, off, len);
                if (n > 0 && (read += n) > limit) {
                  throw new TooLarge();
                }
                return n;
              }

              @Override
              public boolean isFinished() {
                return in.isFinished();
              }

              @Override
              public boolean isReady() {
                return in.isReady();
              }

              @Override
              public void setReadListener(ReadListener l) {
                in.setReadListener(l);
              }
            };
      }
      return stream;
    }
  }
}
