package dev.lathe.api.system;

import dev.lathe.api.web.ApiException;
import dev.lathe.api.web.Check;

/** The base model this deployment serves, as the api validates against it. */
public record ServedModel(String name, int vocabSize, int maxContextLength) {

  /** Checks that a request names this model. */
  public void require(String requested, String field) {
    Check.required(requested, field);
    if (!requested.equals(name)) {
      throw ApiException.badRequest(
          field, "'" + requested + "' is not served here; this server serves " + name);
    }
  }
}
