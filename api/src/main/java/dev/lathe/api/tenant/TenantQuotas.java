package dev.lathe.api.tenant;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.admin.Quotas;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Service;

/**
 * A tenant's limits, enforced before anything is stored: tokens per minute (a token bucket in the
 * database, refilled continuously and shared by every api replica), training runs, and checkpoint
 * bytes. Over a limit is a 429 with Retry-After; a single call bigger than a whole minute's tokens
 * is a 400.
 */
@Service
public class TenantQuotas {

  private static final Duration CACHE = Duration.ofSeconds(5);

  /** How long to wait before a quota on held resources may have room again. */
  private static final long HELD_RETRY_SECONDS = 60;

  private final JdbcClient jdbc;
  private final Map<String, Cached> quotas = new ConcurrentHashMap<>();

  TenantQuotas(JdbcClient jdbc) {
    this.jdbc = jdbc;
  }

  private record Cached(Quotas quotas, long readAt) {}

  /** The tenant's quotas, read from the database at most every few seconds. */
  Quotas of(String tenantId) {
    long now = System.nanoTime();
    Cached c = quotas.get(tenantId);
    if (c == null || now - c.readAt() > CACHE.toNanos()) {
      Quotas q =
          jdbc.sql(
                  "SELECT max_adapters, max_storage_bytes, max_tokens_per_minute FROM tenants WHERE id = ?")
              .param(tenantId)
              .query(
                  (rs, n) ->
                      new Quotas(
                          (Integer) rs.getObject(1),
                          (Long) rs.getObject(2),
                          (Integer) rs.getObject(3)))
              .optional()
              .orElse(Quotas.unlimited());
      c = new Cached(q, now);
      quotas.put(tenantId, c);
    }
    return c.quotas();
  }

  /** Forgets what was cached: the quotas just changed. */
  void changed(String tenantId) {
    quotas.remove(tenantId);
  }

  /** Charges a call's tokens to the tenant's per-minute budget. */
  public void spendTokens(Caller caller, long tokens, String field) {
    Integer perMinute = of(caller.tenantId()).maxTokensPerMinute();
    if (perMinute == null) {
      return;
    }
    if (tokens > perMinute) {
      throw ApiException.badRequest(
          field, tokens + " tokens exceed this tenant's limit of " + perMinute + " per minute");
    }
    long wait = take(caller.tenantId(), tokens, perMinute);
    if (wait > 0) {
      throw ApiException.tooMany(
          field, "this tenant's " + perMinute + " tokens per minute are used up", wait);
    }
  }

  /**
   * Takes n tokens from the tenant's bucket (capacity: a minute's tokens, refilled at a sixtieth of
   * that per second), or returns the seconds until there would be enough. One statement: the row
   * lock orders concurrent takers, on this replica or any other.
   */
  private long take(String tenantId, long n, int perMinute) {
    String refilled =
        "least(:cap, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at) * :cap / 60.0)";
    boolean taken =
        jdbc.sql(
                "INSERT INTO token_buckets AS b (tenant_id, tokens, updated_at)"
                    + " VALUES (:tenant, :cap - :n, clock_timestamp())"
                    + " ON CONFLICT (tenant_id) DO UPDATE"
                    + " SET tokens = "
                    + refilled
                    + " - :n, updated_at = clock_timestamp()"
                    + " WHERE "
                    + refilled
                    + " >= :n"
                    + " RETURNING tokens")
            .param("tenant", tenantId)
            .param("cap", (double) perMinute)
            .param("n", (double) n)
            .query(Double.class)
            .optional()
            .isPresent();
    if (taken) {
      return 0;
    }
    double available =
        jdbc.sql("SELECT " + refilled + " FROM token_buckets b WHERE tenant_id = :tenant")
            .param("tenant", tenantId)
            .param("cap", (double) perMinute)
            .query(Double.class)
            .optional()
            .orElse((double) perMinute);
    return Math.max(1, (long) Math.ceil((n - available) / (perMinute / 60.0)));
  }

  /** Refuses a new training run beyond the tenant's number of adapters. */
  public void allowNewAdapter(Caller caller) {
    Integer max = of(caller.tenantId()).maxAdapters();
    if (max == null) {
      return;
    }
    long active =
        jdbc.sql("SELECT count(*) FROM training_runs WHERE tenant_id = ? AND status = 'active'")
            .param(caller.tenantId())
            .query(Long.class)
            .single();
    if (active >= max) {
      throw ApiException.tooMany(
          "lora_config",
          "this tenant has "
              + active
              + " of its "
              + max
              + " training runs; unload one or ask for a higher quota",
          HELD_RETRY_SECONDS);
    }
  }

  /** Refuses a new checkpoint when the tenant's stored bytes are at its quota. */
  public void allowNewCheckpoint(Caller caller, String field) {
    Long max = of(caller.tenantId()).maxStorageBytes();
    if (max == null) {
      return;
    }
    long used =
        jdbc.sql("SELECT coalesce(sum(size_bytes), 0) FROM checkpoints WHERE tenant_id = ?")
            .param(caller.tenantId())
            .query(Long.class)
            .single();
    if (used >= max) {
      throw ApiException.tooMany(
          field,
          "this tenant stores "
              + used
              + " of its "
              + max
              + " checkpoint bytes; delete checkpoints or ask for a higher quota",
          HELD_RETRY_SECONDS);
    }
  }
}
