package dev.lathe.contracts.admin;

import dev.lathe.contracts.Wire;

/**
 * {@code GET /admin/v1/tenants/{id}/usage}: totals since the tenant was created; {@code requests}
 * counts the requests that finished (done or failed).
 */
@Wire
public record TenantUsage(
    String tenantId,
    long tokensTrained,
    long tokensSampled,
    long requests,
    long storageBytes,
    int adapters) {}
