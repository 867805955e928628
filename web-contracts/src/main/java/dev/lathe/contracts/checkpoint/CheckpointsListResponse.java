package dev.lathe.contracts.checkpoint;

import dev.lathe.contracts.Wire;
import java.util.List;

/** A page of checkpoints. */
@Wire
public record CheckpointsListResponse(List<Checkpoint> checkpoints, Cursor cursor) {}
