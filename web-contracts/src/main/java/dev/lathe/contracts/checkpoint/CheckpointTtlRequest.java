package dev.lathe.contracts.checkpoint;

import dev.lathe.contracts.Wire;

/** {@code PUT …/checkpoints/{kind}/{name}/ttl}: expire after this many seconds; null: never. */
@Wire
public record CheckpointTtlRequest(Long ttlSeconds) {}
