package dev.lathe.worker.runtime;

import tools.jackson.databind.JsonNode;

/** A request row this worker claimed; {@code waited}: from its arrival to the claim. */
public record Claimed(
    String id,
    String tenantId,
    String modelId,
    String samplingSessionId,
    Integer seqId,
    String kind,
    JsonNode body,
    long claimedAtNanos,
    java.time.Duration waited) {

  boolean ordered() {
    return modelId != null && seqId != null;
  }
}
