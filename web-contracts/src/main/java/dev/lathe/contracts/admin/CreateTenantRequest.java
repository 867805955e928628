package dev.lathe.contracts.admin;

import dev.lathe.contracts.Wire;

/** {@code POST /admin/v1/tenants}. */
@Wire
public record CreateTenantRequest(String name) {}
