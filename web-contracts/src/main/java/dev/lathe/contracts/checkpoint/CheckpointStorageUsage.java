package dev.lathe.contracts.checkpoint;

import dev.lathe.contracts.Wire;
import java.util.List;

/**
 * {@code GET /api/v1/billing/usage/checkpoints/current}: the caller's live checkpoints, grouped by
 * the project of the session that made them. Lathe bills nothing, so no rate or cost is given.
 */
@Wire
public record CheckpointStorageUsage(Double effectiveRateUsdPerGigabyteMonth, List<Item> data) {

  /** One project's checkpoints. */
  @Wire
  public record Item(String projectId, long checkpointCount, long sizeBytes, double sizeGigabytes) {

    public static Item of(String projectId, long count, long bytes) {
      return new Item(projectId, count, bytes, bytes / 1e9);
    }
  }
}
