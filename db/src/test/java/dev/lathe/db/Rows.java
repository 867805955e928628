package dev.lathe.db;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;

/** Inserts the rows the schema tests need, with plain SQL. */
final class Rows {

  private static final AtomicInteger ids = new AtomicInteger();
  private final DataSource ds;

  Rows(DataSource ds) {
    this.ds = ds;
  }

  static String id(String prefix) {
    return prefix + "-" + ids.incrementAndGet();
  }

  static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes());
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  String tenant() throws SQLException {
    String id = id("tnt");
    update("INSERT INTO tenants (id, name) VALUES (?, ?)", id, "tenant " + id);
    return id;
  }

  String trainingRun(String tenant) throws SQLException {
    String id = id("run");
    update(
        "INSERT INTO training_runs (id, tenant_id, base_model, lora_rank, lora_config)"
            + " VALUES (?, ?, 'lathe-tiny', 8, '{\"rank\": 8}')",
        id,
        tenant);
    return id;
  }

  String request(String tenant, String model, Integer seq) throws SQLException {
    String id = id("req");
    update(
        "INSERT INTO requests (id, tenant_id, base_model, model_id, seq_id, kind, body, body_sha256)"
            + " VALUES (?, ?, 'lathe-tiny', ?, ?, 'forward_backward', '{}', ?)",
        id,
        tenant,
        model,
        seq,
        sha256(id));
    return id;
  }

  int update(String sql, Object... args) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement st = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) {
        st.setObject(i + 1, args[i]);
      }
      return st.executeUpdate();
    }
  }

  long count(String sql, Object... args) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement st = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) {
        st.setObject(i + 1, args[i]);
      }
      try (var rs = st.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }
}
