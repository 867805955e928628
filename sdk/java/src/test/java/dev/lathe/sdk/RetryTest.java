package dev.lathe.sdk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Retries: 429 and 503 are tried again (after Retry-After when given); a 400 is not. */
class RetryTest {

  /** An HTTP endpoint that answers create_session with the given statuses, then 200. */
  static HttpServer endpoint(AtomicInteger hits, List<Long> times, int... statuses)
      throws Exception {
    HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    s.createContext(
        "/api/v1/create_session",
        ex -> {
          int n = hits.getAndIncrement();
          times.add(System.nanoTime());
          int status = n < statuses.length ? statuses[n] : 200;
          byte[] body =
              (status == 200
                      ? "{\"session_id\": \"s-1\"}"
                      : "{\"status\": " + status + ", \"detail\": \"busy\"}")
                  .getBytes(StandardCharsets.UTF_8);
          if (status == 429) {
            ex.getResponseHeaders().add("Retry-After", "1");
          }
          ex.sendResponseHeaders(status, body.length);
          ex.getResponseBody().write(body);
          ex.close();
        });
    s.start();
    return s;
  }

  @Test
  void retriesBusyAnswersHonouringRetryAfter() throws Exception {
    AtomicInteger hits = new AtomicInteger();
    List<Long> times = new ArrayList<>();
    HttpServer s = endpoint(hits, times, 503, 429);
    try (ServiceClient c =
        ServiceClient.builder("http://127.0.0.1:" + s.getAddress().getPort(), "tml-x").build()) {
      assertThat(c.sessionId()).isEqualTo("s-1");
      assertThat(hits).hasValue(3);
      assertThat(times.get(2) - times.get(1))
          .as("waited Retry-After: 1")
          .isGreaterThanOrEqualTo(900_000_000L);
    } finally {
      s.stop(0);
    }
  }

  @Test
  void doesNotRetryABadRequest() throws Exception {
    AtomicInteger hits = new AtomicInteger();
    HttpServer s = endpoint(hits, new ArrayList<>(), 400);
    try {
      assertThatThrownBy(
              () ->
                  ServiceClient.builder("http://127.0.0.1:" + s.getAddress().getPort(), "tml-x")
                      .build())
          .hasRootCauseInstanceOf(LatheException.class)
          .hasMessageContaining("busy");
      assertThat(hits).hasValue(1);
    } finally {
      s.stop(0);
    }
  }
}
