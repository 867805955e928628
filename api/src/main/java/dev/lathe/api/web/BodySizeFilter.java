package dev.lathe.api.web;

import com.github.luben.zstd.ZstdInputStream;
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
import java.io.InputStream;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Refuses bodies over {@code lathe.limits.max-body-bytes} with a 413, declared or streamed, and
 * decodes {@code Content-Encoding: zstd} bodies (the current Tinker SDK compresses its protobuf
 * forward_backward), holding the decoded size to the same limit so that a small compressed body
 * cannot expand without bound. Any other content coding is a 415 naming the header.
 */
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
      refuse(req, res, HttpStatus.CONTENT_TOO_LARGE, null, new TooLarge(false, limit).getMessage());
      return;
    }
    String coding = req.getHeader(HttpHeaders.CONTENT_ENCODING);
    boolean zstd = coding != null && coding.strip().equalsIgnoreCase("zstd");
    if (!zstd && coding != null && !coding.isBlank() && !coding.strip().equals("identity")) {
      refuse(
          req,
          res,
          HttpStatus.UNSUPPORTED_MEDIA_TYPE,
          HttpHeaders.CONTENT_ENCODING,
          "Content-Encoding: " + coding.strip() + " is not supported (send zstd or identity)");
      return;
    }
    try {
      chain.doFilter(new Limited(req, limit, zstd), res);
    } catch (ServletException | RuntimeException e) {
      TooLarge cause = causedByLimit(e);
      if (cause != null && !res.isCommitted()) {
        res.reset();
        refuse(req, res, HttpStatus.CONTENT_TOO_LARGE, null, cause.getMessage());
        return;
      }
      throw e;
    }
  }

  /** A problem+json refusal written before any controller runs. */
  private static void refuse(
      HttpServletRequest req, HttpServletResponse res, HttpStatus status, String field, String why)
      throws IOException {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("type", "about:blank");
    body.put("title", status.getReasonPhrase());
    body.put("status", status.value());
    body.put("detail", why);
    body.put("instance", req.getRequestURI());
    if (field != null) {
      body.put("field", field);
    }
    body.put("error", why);
    body.put("category", "user");
    res.setStatus(status.value());
    res.setContentType("application/problem+json");
    res.setCharacterEncoding("UTF-8");
    res.getWriter().write(WireJson.mapper().writeValueAsString(body));
  }

  static TooLarge causedByLimit(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof TooLarge tooLarge) {
        return tooLarge;
      }
    }
    return null;
  }

  /** Thrown when a streamed body, or what it decodes to, passes the limit. */
  static final class TooLarge extends IOException {
    TooLarge(boolean decoded, long limit) {
      super(
          (decoded ? "decoded request body" : "request body")
              + " is larger than "
              + limit
              + " bytes");
    }
  }

  /** Thrown when a body's content coding cannot be decoded. */
  static final class BadEncoding extends IOException {
    BadEncoding(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** Counts what is read of the body, and decodes it first when it is zstd. */
  private static final class Limited extends HttpServletRequestWrapper {
    private final long limit;
    private final boolean zstd;
    private ServletInputStream stream;

    Limited(HttpServletRequest req, long limit, boolean zstd) {
      super(req);
      this.limit = limit;
      this.zstd = zstd;
    }

    // A decoded body has neither the declared length nor the declared coding any more.

    @Override
    public long getContentLengthLong() {
      return zstd ? -1 : super.getContentLengthLong();
    }

    @Override
    public int getContentLength() {
      return zstd ? -1 : super.getContentLength();
    }

    @Override
    public String getHeader(String name) {
      return hidden(name) ? null : super.getHeader(name);
    }

    @Override
    public Enumeration<String> getHeaders(String name) {
      return hidden(name) ? Collections.emptyEnumeration() : super.getHeaders(name);
    }

    @Override
    public Enumeration<String> getHeaderNames() {
      List<String> names = Collections.list(super.getHeaderNames());
      names.removeIf(this::hidden);
      return Collections.enumeration(names);
    }

    private boolean hidden(String name) {
      return zstd
          && (HttpHeaders.CONTENT_LENGTH.equalsIgnoreCase(name)
              || HttpHeaders.CONTENT_ENCODING.equalsIgnoreCase(name));
    }

    @Override
    public ServletInputStream getInputStream() throws IOException {
      if (stream == null) {
        ServletInputStream raw = super.getInputStream();
        Counted counted = new Counted(raw, raw, limit, false);
        stream = zstd ? new Counted(new Decoding(counted), raw, limit, true) : counted;
      }
      return stream;
    }
  }

  /** zstd frames in, bytes out; a broken frame is a {@link BadEncoding}. */
  private static final class Decoding extends InputStream {
    private final InputStream in;
    private ZstdInputStream zstd;

    Decoding(InputStream in) {
      this.in = in;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buf, int off, int len) throws IOException {
      try {
        if (zstd == null) {
          zstd = new ZstdInputStream(in);
        }
        return zstd.read(buf, off, len);
      } catch (TooLarge e) {
        throw e;
      } catch (IOException e) {
        throw new BadEncoding("body is not valid zstd: " + e.getMessage(), e);
      }
    }

    @Override
    public void close() throws IOException {
      if (zstd != null) {
        zstd.close();
      }
    }
  }

  /** A servlet stream over {@code in} that throws {@link TooLarge} past {@code limit} bytes. */
  private static final class Counted extends ServletInputStream {
    private final InputStream in;
    private final ServletInputStream raw;
    private final long limit;
    private final boolean decoded;
    private long read;

    Counted(InputStream in, ServletInputStream raw, long limit, boolean decoded) {
      this.in = in;
      this.raw = raw;
      this.limit = limit;
      this.decoded = decoded;
    }

    @Override
    public int read() throws IOException {
      int b = in.read();
      if (b >= 0 && ++read > limit) {
        throw new TooLarge(decoded, limit);
      }
      return b;
    }

    @Override
    public int read(byte[] buf, int off, int len) throws IOException {
      int n = in.read(buf, off, len);
      if (n > 0 && (read += n) > limit) {
        throw new TooLarge(decoded, limit);
      }
      return n;
    }

    @Override
    public boolean isFinished() {
      return raw.isFinished();
    }

    @Override
    public boolean isReady() {
      return raw.isReady();
    }

    @Override
    public void setReadListener(ReadListener l) {
      raw.setReadListener(l);
    }
  }
}
