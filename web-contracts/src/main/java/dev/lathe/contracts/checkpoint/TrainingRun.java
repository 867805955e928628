package dev.lathe.contracts.checkpoint;

import dev.lathe.contracts.Wire;
import java.time.Instant;
import java.util.Map;

/** A training run as the REST client lists it. */
@Wire
public record TrainingRun(
    String trainingRunId,
    String baseModel,
    String modelOwner,
    Boolean isLora,
    Boolean corrupted,
    Integer loraRank,
    Instant lastRequestTime,
    Checkpoint lastCheckpoint,
    Checkpoint lastSamplerCheckpoint,
    Map<String, String> userMetadata) {

  public TrainingRun {
    corrupted = corrupted == null ? Boolean.FALSE : corrupted;
  }
}
