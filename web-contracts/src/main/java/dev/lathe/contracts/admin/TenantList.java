package dev.lathe.contracts.admin;

import dev.lathe.contracts.Wire;
import java.util.List;

/** {@code GET /admin/v1/tenants}. */
@Wire
public record TenantList(List<Tenant> tenants) {}
