package dev.lathe.contracts.sampling;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Why a sampled sequence ended. */
public enum StopReason {
  @JsonProperty("length")
  LENGTH,
  @JsonProperty("stop")
  STOP
}
