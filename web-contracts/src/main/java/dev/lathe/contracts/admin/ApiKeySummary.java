package dev.lathe.contracts.admin;

import dev.lathe.contracts.Wire;
import java.time.Instant;

/** A key as listed: its prefix only. */
@Wire
public record ApiKeySummary(
    String keyPrefix, String label, Instant createdAt, Instant lastUsedAt, Instant revokedAt) {}
