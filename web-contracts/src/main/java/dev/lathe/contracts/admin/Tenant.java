package dev.lathe.contracts.admin;

import dev.lathe.contracts.Wire;
import java.time.Instant;

/** A tenant as the admin API shows it. */
@Wire
public record Tenant(
    String tenantId, String name, TenantStatus status, Quotas quotas, Instant createdAt) {}
