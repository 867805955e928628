package dev.lathe.contracts.future;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Whose fault a failed request was: the caller's input, the server, or not known. */
public enum ErrorCategory {
  @JsonProperty("user")
  USER,
  @JsonProperty("server")
  SERVER,
  @JsonProperty("unknown")
  UNKNOWN
}
