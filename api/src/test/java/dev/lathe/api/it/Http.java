package dev.lathe.api.it;

import dev.lathe.contracts.WireJson;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import tools.jackson.databind.JsonNode;

/** A small JSON client for the api tests: real HTTP on the test server's port. */
final class Http {

  private final HttpClient client = HttpClient.newHttpClient();
  private final String base;

  Http(int port) {
    this.base = "http://127.0.0.1:" + port;
  }

  record Response(
      int status,
      JsonNode json,
      String body,
      String contentType,
      long contentLength,
      java.net.http.HttpHeaders headers) {

    String header(String name) {
      return headers.firstValue(name).orElse(null);
    }
  }

  Response post(String key, String path, Object body) {
    String json = body instanceof String s ? s : WireJson.mapper().writeValueAsString(body);
    return send(
        key,
        HttpRequest.newBuilder(URI.create(base + path))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(json)));
  }

  Response put(String key, String path, Object body) {
    String json = body instanceof String s ? s : WireJson.mapper().writeValueAsString(body);
    return send(
        key,
        HttpRequest.newBuilder(URI.create(base + path))
            .header("Content-Type", "application/json")
            .PUT(HttpRequest.BodyPublishers.ofString(json)));
  }

  /** An answer read as bytes (protobuf). */
  record Raw(int status, byte[] body, String contentType) {

    String text() {
      return new String(body, java.nio.charset.StandardCharsets.UTF_8);
    }
  }

  /** POSTs bytes with the given headers (Content-Type among them). */
  Raw postBytes(String key, String path, byte[] body, String... headers) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(base + path))
            .POST(HttpRequest.BodyPublishers.ofByteArray(body));
    if (headers.length > 0) {
      b.headers(headers);
    }
    if (key != null) {
      b.header("X-API-Key", key);
    }
    try {
      HttpResponse<byte[]> r =
          client.send(
              b.timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofByteArray());
      return new Raw(r.statusCode(), r.body(), r.headers().firstValue("content-type").orElse(""));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Polls retrieve_future as the current SDK does (Accept: protobuf) until it is not try_again. */
  Raw resultAccepting(String key, String requestId, String accept) {
    long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
    byte[] body =
        WireJson.mapper()
            .writeValueAsBytes(
                java.util.Map.of("request_id", requestId, "allow_metadata_only", true));
    while (System.nanoTime() < deadline) {
      Raw r =
          postBytes(
              key,
              "/api/v1/retrieve_future",
              body,
              "Content-Type",
              "application/json",
              "Accept",
              accept);
      boolean tryAgain =
          r.contentType().startsWith("application/json") && r.text().contains("\"try_again\"");
      if (r.status() != 200 || !tryAgain) {
        return r;
      }
    }
    throw new AssertionError("request " + requestId + " did not finish within a minute");
  }

  Response get(String key, String path) {
    return send(key, HttpRequest.newBuilder(URI.create(base + path)).GET());
  }

  Response delete(String key, String path) {
    return send(key, HttpRequest.newBuilder(URI.create(base + path)).DELETE());
  }

  private Response send(String key, HttpRequest.Builder b) {
    if (key != null) {
      b.header("X-API-Key", key);
    }
    try {
      HttpResponse<String> r =
          client.send(
              b.timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
      JsonNode json = null;
      if (!r.body().isEmpty()) {
        try {
          json = WireJson.mapper().readTree(r.body());
        } catch (RuntimeException notJson) {
          json = null;
        }
      }
      return new Response(
          r.statusCode(),
          json,
          r.body(),
          r.headers().firstValue("content-type").orElse(""),
          r.headers().firstValueAsLong("content-length").orElse(-1),
          r.headers());
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Polls retrieve_future until the result is there (or fails the test after a minute). */
  JsonNode result(String key, String requestId) {
    long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
    while (System.nanoTime() < deadline) {
      Response r = post(key, "/api/v1/retrieve_future", java.util.Map.of("request_id", requestId));
      if (r.status() != 200) {
        throw new AssertionError("retrieve_future answered " + r.status() + ": " + r.body());
      }
      if (!"try_again".equals(r.json().path("type").asString(""))) {
        return r.json();
      }
    }
    throw new AssertionError("request " + requestId + " did not finish within a minute");
  }
}
