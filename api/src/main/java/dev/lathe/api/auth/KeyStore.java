package dev.lathe.api.auth;

import java.time.Duration;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Repository;

/** Looks keys up by their hash. */
@Repository
class KeyStore {

  /**
   * A key's last-used time is written at most this often (per api process): it tells operators
   * whether a key is in use, and a write per request would cost every call a transaction that
   * commits to disk, all of a tenant's calls updating one row.
   */
  static final Duration TOUCH_EVERY = Duration.ofMinutes(1);

  private final JdbcClient jdbc;

  /** When each key's last-used time was last written here, by key hash (System.nanoTime). */
  private final ConcurrentHashMap<String, Long> touched = new ConcurrentHashMap<>();

  KeyStore(JdbcClient jdbc) {
    this.jdbc = jdbc;
  }

  /**
   * The active tenant of a valid, unrevoked key; its last-used time is written when it was not in
   * the last {@link #TOUCH_EVERY}. Revoking a key or suspending its tenant takes effect at once.
   */
  Optional<Caller> tenant(String key) {
    byte[] hash = Keys.hash(key);
    Optional<Caller> caller =
        jdbc.sql(
                "SELECT t.id, t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
                    + " WHERE k.key_hash = ? AND k.revoked_at IS NULL AND t.status = 'active'")
            .param(hash)
            .query((rs, n) -> new Caller(rs.getString(1), rs.getString(2)))
            .optional();
    if (caller.isPresent() && due(HexFormat.of().formatHex(hash))) {
      jdbc.sql("UPDATE api_keys SET last_used_at = now() WHERE key_hash = ?").param(hash).update();
    }
    return caller;
  }

  /**
   * Whether a key's last-used time is due to be written; if so, it counts as written now (one of
   * concurrent calls writes it).
   */
  private boolean due(String hash) {
    long now = System.nanoTime();
    Long last = touched.get(hash);
    if (last == null) {
      return touched.putIfAbsent(hash, now) == null;
    }
    return now - last >= TOUCH_EVERY.toNanos() && touched.replace(hash, last, now);
  }

  boolean isAdmin(String key) {
    return jdbc.sql("SELECT count(*) FROM admin_keys WHERE key_hash = ? AND revoked_at IS NULL")
            .param(Keys.hash(key))
            .query(Long.class)
            .single()
        > 0;
  }

  long adminKeys() {
    return jdbc.sql("SELECT count(*) FROM admin_keys WHERE revoked_at IS NULL")
        .query(Long.class)
        .single();
  }

  void addAdminKey(String key, String label) {
    jdbc.sql(
            "INSERT INTO admin_keys (key_hash, key_prefix, label) VALUES (?, ?, ?)"
                + " ON CONFLICT (key_hash) DO NOTHING")
        .params(Keys.hash(key), Keys.displayPrefix(key), label)
        .update();
  }
}
