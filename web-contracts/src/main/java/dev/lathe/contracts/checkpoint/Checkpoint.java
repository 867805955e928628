package dev.lathe.contracts.checkpoint;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import java.time.Instant;

/**
 * A saved checkpoint. {@code checkpoint_id} is {@code weights/<name>} or {@code
 * sampler_weights/<name>}; {@code tinker_path} is {@code
 * tinker://<training_run_id>/<checkpoint_id>}.
 */
@Wire
public record Checkpoint(
    String checkpointId,
    CheckpointType checkpointType,
    Instant time,
    String tinkerPath,
    Long sizeBytes,
    @JsonProperty("public") Boolean isPublic,
    Instant expiresAt) {

  public Checkpoint {
    isPublic = isPublic == null ? Boolean.FALSE : isPublic;
  }
}
