package dev.lathe.sdk;

import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.future.FutureRetrieveRequest;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.JsonNode;

/**
 * JSON over java.net.http with the API key, retries of 408, 429, 5xx and connection failures
 * (exponential backoff with jitter, or the server's Retry-After), and the polling of futures.
 */
final class Transport {

  private static final Set<Integer> RETRYABLE = Set.of(408, 429, 500, 502, 503, 504);

  private final HttpClient http;
  private final URI base;
  private final String apiKey;
  private final int maxRetries;
  private final Duration timeout;

  Transport(HttpClient http, URI base, String apiKey, int maxRetries, Duration timeout) {
    this.http = http;
    this.base = base;
    this.apiKey = apiKey;
    this.maxRetries = maxRetries;
    this.timeout = timeout;
  }

  URI base() {
    return base;
  }

  /** The response body of a call, or null for 204; fails with {@link LatheException}. */
  CompletableFuture<JsonNode> call(String method, String path, Object body) {
    HttpRequest.Builder req =
        HttpRequest.newBuilder(base.resolve(path))
            .timeout(timeout)
            .header("X-API-Key", apiKey)
            .header("Accept", "application/json");
    if (body != null) {
      req.header("Content-Type", "application/json")
          .method(
              method,
              HttpRequest.BodyPublishers.ofByteArray(WireJson.mapper().writeValueAsBytes(body)));
    } else {
      req.method(method, HttpRequest.BodyPublishers.noBody());
    }
    return attempt(req.build(), 0);
  }

  <T> CompletableFuture<T> call(String method, String path, Object body, Class<T> type) {
    return call(method, path, body).thenApply(j -> WireJson.mapper().treeToValue(j, type));
  }

  /** Polls a future until it is done; its result as {@code type}. */
  <T> CompletableFuture<T> result(String requestId, Class<T> type) {
    return call("POST", "/api/v1/retrieve_future", new FutureRetrieveRequest(requestId, false))
        .thenCompose(
            body -> {
              if ("try_again".equals(body.path("type").asString(""))) {
                return result(requestId, type);
              }
              if (body.has("error") && body.has("category")) {
                throw new RequestFailedException(
                    requestId, body.get("error").asString(), body.get("category").asString(), body);
              }
              return CompletableFuture.completedFuture(WireJson.mapper().treeToValue(body, type));
            });
  }

  byte[] get(URI uri) {
    try {
      HttpResponse<byte[]> r =
          http.send(
              HttpRequest.newBuilder(uri).timeout(timeout).build(),
              HttpResponse.BodyHandlers.ofByteArray());
      if (r.statusCode() != 200) {
        throw new LatheException(r.statusCode(), null, null, "download failed", null);
      }
      return r.body();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private CompletableFuture<JsonNode> attempt(HttpRequest req, int n) {
    return http.sendAsync(req, HttpResponse.BodyHandlers.ofByteArray())
        .handle(
            (r, error) -> {
              boolean retry =
                  n < maxRetries && (error != null || RETRYABLE.contains(r.statusCode()));
              if (retry) {
                long delay = delayMillis(n, r);
                return CompletableFuture.supplyAsync(
                        () -> null, CompletableFuture.delayedExecutor(delay, TimeUnit.MILLISECONDS))
                    .thenCompose(x -> attempt(req, n + 1));
              }
              if (error != null) {
                throw new CompletionException(error);
              }
              return CompletableFuture.completedFuture(parse(r));
            })
        .thenCompose(f -> f);
  }

  private static long delayMillis(int n, HttpResponse<byte[]> r) {
    if (r != null) {
      var after = r.headers().firstValue("Retry-After");
      if (after.isPresent()) {
        try {
          return Math.min(60_000, (long) (Double.parseDouble(after.get()) * 1000));
        } catch (NumberFormatException ignored) {
          // an HTTP date: fall back to backoff
        }
      }
    }
    long base = Math.min(8_000, 250L << n);
    return base / 2 + ThreadLocalRandom.current().nextLong(base / 2 + 1);
  }

  private static JsonNode parse(HttpResponse<byte[]> r) {
    byte[] body = r.body();
    JsonNode json = null;
    if (body != null && body.length > 0) {
      try {
        json = WireJson.mapper().readTree(body);
      } catch (RuntimeException e) {
        json =
            WireJson.mapper()
                .getNodeFactory()
                .stringNode(new String(body, java.nio.charset.StandardCharsets.UTF_8));
      }
    }
    if (r.statusCode() >= 400) {
      JsonNode p = json == null ? WireJson.mapper().createObjectNode() : json;
      String message =
          p.path("detail")
              .asString(p.path("error").asString(p.path("title").asString(p.asString(""))));
      throw new LatheException(
          r.statusCode(),
          p.path("category").isMissingNode() ? null : p.path("category").asString(),
          p.path("field").isMissingNode() ? null : p.path("field").asString(),
          message,
          json);
    }
    return json;
  }

  /** A value as one URL path segment. */
  static String segment(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
