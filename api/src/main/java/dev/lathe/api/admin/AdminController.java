package dev.lathe.api.admin;

import dev.lathe.api.tenant.Tenants;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.admin.ApiKeyCreated;
import dev.lathe.contracts.admin.ApiKeySummary;
import dev.lathe.contracts.admin.CreateTenantRequest;
import dev.lathe.contracts.admin.Quotas;
import dev.lathe.contracts.admin.Tenant;
import dev.lathe.contracts.admin.TenantList;
import dev.lathe.contracts.admin.TenantUsage;
import java.util.List;
import java.util.regex.Pattern;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.PutMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/** {@code /admin/v1}: tenants and their keys, for operators (admin keys only). */
@RestController
@RequestMapping("/admin/v1")
class AdminController {

  private static final Pattern NAME = Pattern.compile("[\\p{L}\\p{N} ._-]{1,100}");

  private final Tenants tenants;

  AdminController(Tenants tenants) {
    this.tenants = tenants;
  }

  @PostMapping("/tenants")
  ResponseEntity<Tenant> create(@RequestBody CreateTenantRequest req) {
    if (req == null || req.name() == null || req.name().isBlank()) {
      throw ApiException.badRequest("name", "is required");
    }
    String name = req.name().strip();
    if (!NAME.matcher(name).matches()) {
      throw ApiException.badRequest(
          "name", "must be 1-100 letters, digits, spaces, '.', '_' or '-'");
    }
    if (tenants.nameTaken(name)) {
      throw ApiException.conflict("name", "a tenant named '" + name + "' exists");
    }
    return ResponseEntity.status(HttpStatus.CREATED).body(tenants.create(name));
  }

  @PutMapping("/tenants/{tenantId}/quotas")
  Tenant setQuotas(@PathVariable String tenantId, @RequestBody Quotas q) {
    if (q == null) {
      throw ApiException.badRequest("quotas", "a body is required");
    }
    nonNegative(q.maxAdapters(), "max_adapters");
    nonNegative(q.maxStorageBytes(), "max_storage_bytes");
    nonNegative(q.maxTokensPerMinute(), "max_tokens_per_minute");
    if (!tenants.setQuotas(tenantId, q)) {
      throw ApiException.notFound("tenant_id", tenantId);
    }
    return get(tenantId);
  }

  @PostMapping("/tenants/{tenantId}/suspend")
  Tenant suspend(@PathVariable String tenantId) {
    if (!tenants.setSuspended(tenantId, true)) {
      throw ApiException.notFound("tenant_id", tenantId);
    }
    return get(tenantId);
  }

  @PostMapping("/tenants/{tenantId}/resume")
  Tenant resume(@PathVariable String tenantId) {
    if (!tenants.setSuspended(tenantId, false)) {
      throw ApiException.notFound("tenant_id", tenantId);
    }
    return get(tenantId);
  }

  private static void nonNegative(Number n, String field) {
    if (n != null && n.longValue() < 0) {
      throw ApiException.badRequest(field, "must not be negative (null: no limit)");
    }
  }

  @GetMapping("/tenants")
  TenantList list() {
    return new TenantList(tenants.list());
  }

  @GetMapping("/tenants/{tenantId}")
  Tenant get(@PathVariable String tenantId) {
    return tenants.require(tenantId);
  }

  @PostMapping("/tenants/{tenantId}/api_keys")
  ResponseEntity<ApiKeyCreated> issueKey(@PathVariable String tenantId) {
    get(tenantId);
    return ResponseEntity.status(HttpStatus.CREATED).body(tenants.issueKey(tenantId, null));
  }

  @GetMapping("/tenants/{tenantId}/api_keys")
  List<ApiKeySummary> keys(@PathVariable String tenantId) {
    get(tenantId);
    return tenants.keys(tenantId);
  }

  @DeleteMapping("/api_keys/{keyPrefix}")
  ResponseEntity<Void> revoke(@PathVariable String keyPrefix) {
    if (!tenants.revoke(keyPrefix)) {
      throw ApiException.notFound("key_prefix", keyPrefix);
    }
    return ResponseEntity.noContent().build();
  }

  @GetMapping("/tenants/{tenantId}/usage")
  TenantUsage usage(@PathVariable String tenantId) {
    get(tenantId);
    return tenants.usage(tenantId);
  }
}
