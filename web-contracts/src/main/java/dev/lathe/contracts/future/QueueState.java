package dev.lathe.contracts.future;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Why a future is still pending. */
public enum QueueState {
  @JsonProperty("active")
  ACTIVE,
  @JsonProperty("paused_rate_limit")
  PAUSED_RATE_LIMIT,
  @JsonProperty("paused_capacity")
  PAUSED_CAPACITY
}
