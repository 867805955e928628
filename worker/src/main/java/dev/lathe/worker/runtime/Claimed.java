package dev.lathe.worker.runtime;

import tools.jackson.databind.JsonNode;

/** A request row this worker claimed. */
public record Claimed(
    String id,
    String tenantId,
    String modelId,
    String samplingSessionId,
    Integer seqId,
    String kind,
    JsonNode body,
    long claimedAtNanos) {

  boolean ordered() {
    return modelId != null && seqId != null;
  }
}
