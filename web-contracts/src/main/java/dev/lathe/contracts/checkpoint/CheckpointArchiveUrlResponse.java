package dev.lathe.contracts.checkpoint;

import dev.lathe.contracts.Wire;
import java.time.Instant;

/** Where to download a checkpoint's archive, and until when that address works. */
@Wire
public record CheckpointArchiveUrlResponse(String url, Instant expires) {}
