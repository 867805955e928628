package dev.lathe.api.auth;

import java.util.Optional;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Repository;

/** Looks keys up by their hash. */
@Repository
class KeyStore {

  private final JdbcClient jdbc;

  KeyStore(JdbcClient jdbc) {
    this.jdbc = jdbc;
  }

  /** The active tenant of a valid, unrevoked key; touches its last-used time. */
  Optional<Caller> tenant(String key) {
    return jdbc.sql(
            "UPDATE api_keys k SET last_used_at = now() FROM tenants t WHERE k.key_hash = ?"
                + " AND k.revoked_at IS NULL AND t.id = k.tenant_id AND t.status = 'active'"
                + " RETURNING t.id, t.name")
        .param(Keys.hash(key))
        .query((rs, n) -> new Caller(rs.getString(1), rs.getString(2)))
        .optional();
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
