package dev.lathe.contracts.model;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Element types of {@link TensorData}. */
public enum TensorDtype {
  @JsonProperty("int64")
  INT64,
  @JsonProperty("float32")
  FLOAT32
}
