package dev.lathe.api.web;

import dev.lathe.contracts.model.ModelInput;
import dev.lathe.contracts.model.ModelInputChunk;

/** Field checks shared by the endpoints; each failure is a 400 naming the field. */
public final class Check {

  private Check() {}

  public static <T> T required(T value, String field) {
    if (value == null) {
      throw ApiException.badRequest(field, "is required");
    }
    return value;
  }

  public static int range(Integer value, int min, int max, String field) {
    required(value, field);
    if (value < min || value > max) {
      throw ApiException.badRequest(
          field, "must be between " + min + " and " + max + ", got " + value);
    }
    return value;
  }

  public static double finite(Double value, String field) {
    required(value, field);
    if (!Double.isFinite(value)) {
      throw ApiException.badRequest(field, "must be a finite number");
    }
    return value;
  }

  /** A checkpoint's time to live: 1 s to ten years, or null for never. */
  public static final long MAX_TTL_SECONDS = 10L * 365 * 24 * 3600;

  public static void ttl(Long ttlSeconds) {
    if (ttlSeconds != null && (ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS)) {
      throw ApiException.badRequest(
          "ttl_seconds", "must be between 1 and " + MAX_TTL_SECONDS + ", or null for never");
    }
  }

  /** Paging of a list endpoint. */
  public static void page(int limit, int offset) {
    if (limit < 1 || limit > 1000) {
      throw ApiException.badRequest("limit", "must be between 1 and 1000");
    }
    if (offset < 0) {
      throw ApiException.badRequest("offset", "must not be negative");
    }
  }

  /**
   * The tokens of a text-only input, each a valid id.
   *
   * @return how many tokens it holds
   */
  public static int tokens(ModelInput input, int vocab, String field) {
    required(input, field);
    int n = 0;
    for (int c = 0; c < input.chunks().size(); c++) {
      ModelInputChunk chunk = input.chunks().get(c);
      String at = field + ".chunks[" + c + "]";
      if (!(chunk instanceof ModelInputChunk.EncodedText text)) {
        throw ApiException.badRequest(
            at,
            "chunk type '"
                + required(chunk, at).type()
                + "' is not supported: Lathe serves text models");
      }
      for (int i = 0; i < text.tokens().length; i++) {
        int t = text.tokens()[i];
        if (t < 0 || t >= vocab) {
          throw ApiException.badRequest(
              at + ".tokens[" + i + "]", t + " is outside the vocabulary [0, " + vocab + ")");
        }
      }
      n += text.tokens().length;
    }
    if (n == 0) {
      throw ApiException.badRequest(field, "has no tokens");
    }
    return n;
  }
}
