package dev.lathe.contracts.future;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/** {@code retrieve_future} while the request is pending: poll again. */
@Wire
public record TryAgainResponse(String requestId, QueueState queueState) {

  @JsonProperty("type")
  public String type() {
    return "try_again";
  }
}
