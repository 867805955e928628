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
 * A tenant's limits, enforced before anything is stored: tokens per minute (a token bucket in this
 * api process, refilled continuously), training runs, and checkpoint bytes. Over a limit is a 429
 * with Retry-After; a single call bigger than a whole minute's tokens is a 400.
 */
@Service
public class TenantQuotas {

  private static final Duration CACHE = Duration.ofSeconds(5);

  /** How long to wait before a quota on held resources may have room again. */
  private static final long HELD_RETRY_SECONDS = 60;

  private final JdbcClient jdbc;
  private final Map<String, Cached> quotas = new ConcurrentHashMap<>();
  private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();

  TenantQuotas(JdbcClient jdbc) {
    this.jdbc = jdbc;
  }

  private record Cached(Quotas quotas, long readAt) {}

  /** Tokens per minute as a bucket of that capacity, refilled at capacity / 60 per second. */
  private static final class Bucket {
    double tokens;
    long at = System.nanoTime();
    int capacity;

    Bucket(int capacity) {
      this.capacity = capacity;
      this.tokens = capacity;
    }

    /** Takes n tokens, or returns the seconds until there would be enough. */
    synchronized long take(long n, int capacityNow) {
      if (capacityNow != capacity) {
        tokens = Math.min(tokens, capacityNow);
        capacity = capacityNow;
      }
      long now = System.nanoTime();
      double perSecond = capacity / 60.0;
      tokens = Math.min(capacity, tokens + (now - at) / 1e9 * perSecond);
      at = now;
      if (tokens >= n) {
        tokens -= n;
        return 0;
      }
      return Math.max(1, (long) Math.ceil((n - tokens) / perSecond));
    }
  }

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
    buckets.remove(tenantId);
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
    long wait =
        buckets
            .computeIfAbsent(caller.tenantId(), k -> new Bucket(perMinute))
            .take(tokens, perMinute);
    if (wait > 0) {
      throw ApiException.tooMany(
          field, "this tenant's " + perMinute + " tokens per minute are used up", wait);
    }
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
