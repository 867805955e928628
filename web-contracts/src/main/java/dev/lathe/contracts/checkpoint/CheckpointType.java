package dev.lathe.contracts.checkpoint;

import com.fasterxml.jackson.annotation.JsonProperty;

/** {@code training}: adapter and optimizer ({@code weights/…}); {@code sampler}: adapter only. */
public enum CheckpointType {
  @JsonProperty("training")
  TRAINING,
  @JsonProperty("sampler")
  SAMPLER
}
