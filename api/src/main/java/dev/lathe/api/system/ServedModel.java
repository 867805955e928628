package dev.lathe.api.system;

import dev.lathe.api.web.ApiException;
import dev.lathe.api.web.Check;
import java.nio.file.Path;

/**
 * The base model this deployment serves, as the api validates against it; {@code dir} holds its
 * tokenizer files.
 */
public record ServedModel(String name, int vocabSize, int maxContextLength, Path dir) {

  /** Checks that a request names this model. */
  public void require(String requested, String field) {
    Check.required(requested, field);
    if (!requested.equals(name)) {
      throw ApiException.badRequest(
          field, "'" + requested + "' is not served here; this server serves " + name);
    }
  }
}
