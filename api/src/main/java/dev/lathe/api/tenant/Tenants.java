package dev.lathe.api.tenant;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.auth.Keys;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.admin.ApiKeyCreated;
import dev.lathe.contracts.admin.ApiKeySummary;
import dev.lathe.contracts.admin.Quotas;
import dev.lathe.contracts.admin.Tenant;
import dev.lathe.contracts.admin.TenantStatus;
import dev.lathe.contracts.admin.TenantUsage;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/** Tenants and their API keys. */
@Service
public class Tenants {

  private final JdbcClient jdbc;
  private final TenantQuotas quotas;

  Tenants(JdbcClient jdbc, TenantQuotas quotas) {
    this.jdbc = jdbc;
    this.quotas = quotas;
  }

  public Tenant create(String name) {
    String id = "tnt-" + UUID.randomUUID().toString().substring(0, 13);
    jdbc.sql("INSERT INTO tenants (id, name) VALUES (?, ?)").params(id, name).update();
    return find(id).orElseThrow();
  }

  public boolean nameTaken(String name) {
    return jdbc.sql("SELECT count(*) FROM tenants WHERE name = ?")
            .param(name)
            .query(Long.class)
            .single()
        > 0;
  }

  public long count() {
    return jdbc.sql("SELECT count(*) FROM tenants").query(Long.class).single();
  }

  public Optional<Tenant> find(String id) {
    return jdbc.sql(
            "SELECT id, name, status, max_adapters, max_storage_bytes, max_tokens_per_minute,"
                + " created_at FROM tenants WHERE id = ?")
        .param(id)
        .query(Tenants::tenant)
        .optional();
  }

  /** The tenant, or a 404 naming {@code tenant_id}. */
  public Tenant require(String id) {
    return find(id).orElseThrow(() -> ApiException.notFound("tenant_id", id));
  }

  /** An operator acting as the tenant (404 naming {@code tenant_id} if there is none). */
  public Caller as(String id) {
    Tenant t = require(id);
    return new Caller(t.tenantId(), t.name());
  }

  public List<Tenant> list() {
    return jdbc.sql(
            "SELECT id, name, status, max_adapters, max_storage_bytes, max_tokens_per_minute,"
                + " created_at FROM tenants ORDER BY created_at, id")
        .query(Tenants::tenant)
        .list();
  }

  @Transactional
  public ApiKeyCreated issueKey(String tenantId, String label) {
    String key = Keys.newTenantKey();
    jdbc.sql("INSERT INTO api_keys (tenant_id, key_hash, key_prefix, label) VALUES (?, ?, ?, ?)")
        .params(tenantId, Keys.hash(key), Keys.displayPrefix(key), label)
        .update();
    return new ApiKeyCreated(key, Keys.displayPrefix(key));
  }

  public List<ApiKeySummary> keys(String tenantId) {
    return jdbc.sql(
            "SELECT key_prefix, label, created_at, last_used_at, revoked_at FROM api_keys"
                + " WHERE tenant_id = ? ORDER BY created_at")
        .param(tenantId)
        .query(
            (rs, n) ->
                new ApiKeySummary(
                    rs.getString(1),
                    rs.getString(2),
                    instant(rs, 3),
                    instant(rs, 4),
                    instant(rs, 5)))
        .list();
  }

  /** Revokes a key by its display prefix; false if there is no such active key. */
  public boolean revoke(String keyPrefix) {
    return jdbc.sql(
                "UPDATE api_keys SET revoked_at = now() WHERE key_prefix = ? AND revoked_at IS NULL")
            .param(keyPrefix)
            .update()
        == 1;
  }

  /** Sets a tenant's quotas (null: no limit); false if there is no such tenant. */
  public boolean setQuotas(String tenantId, Quotas q) {
    boolean found =
        jdbc.sql(
                    "UPDATE tenants SET max_adapters = ?, max_storage_bytes = ?,"
                        + " max_tokens_per_minute = ? WHERE id = ?")
                .params(q.maxAdapters(), q.maxStorageBytes(), q.maxTokensPerMinute(), tenantId)
                .update()
            == 1;
    quotas.changed(tenantId);
    return found;
  }

  /** Suspends (keys stop working, nothing is deleted) or resumes a tenant. */
  public boolean setSuspended(String tenantId, boolean suspended) {
    return jdbc.sql(
                "UPDATE tenants SET status = ?, suspended_at = CASE WHEN ? THEN now() END WHERE id = ?")
            .params(suspended ? "suspended" : "active", suspended, tenantId)
            .update()
        == 1;
  }

  public TenantUsage usage(String tenantId) {
    return jdbc.sql(
            "SELECT"
                + " (SELECT coalesce(sum(tokens_trained), 0) FROM usage_counters WHERE tenant_id = :t),"
                + " (SELECT coalesce(sum(tokens_sampled), 0) FROM usage_counters WHERE tenant_id = :t),"
                + " (SELECT coalesce(sum(requests), 0) FROM usage_counters WHERE tenant_id = :t),"
                + " (SELECT coalesce(sum(size_bytes), 0) FROM checkpoints WHERE tenant_id = :t),"
                + " (SELECT count(*) FROM training_runs WHERE tenant_id = :t AND status = 'active')")
        .param("t", tenantId)
        .query(
            (rs, n) ->
                new TenantUsage(
                    tenantId,
                    rs.getLong(1),
                    rs.getLong(2),
                    rs.getLong(3),
                    rs.getLong(4),
                    rs.getInt(5)))
        .single();
  }

  private static Tenant tenant(ResultSet rs, int n) throws SQLException {
    return new Tenant(
        rs.getString("id"),
        rs.getString("name"),
        "suspended".equals(rs.getString("status")) ? TenantStatus.SUSPENDED : TenantStatus.ACTIVE,
        new Quotas(
            (Integer) rs.getObject("max_adapters"),
            (Long) rs.getObject("max_storage_bytes"),
            (Integer) rs.getObject("max_tokens_per_minute")),
        instant(rs, 7));
  }

  private static Instant instant(ResultSet rs, int column) throws SQLException {
    Timestamp t = rs.getTimestamp(column);
    return t == null ? null : t.toInstant();
  }
}
