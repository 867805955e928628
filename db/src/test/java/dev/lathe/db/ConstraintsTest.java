package dev.lathe.db;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lathe.testing.TestDatabase;
import java.sql.SQLException;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The schema refuses what the application must never store. SQLSTATEs per PostgreSQL. */
class ConstraintsTest {

  static final String UNIQUE = "23505";
  static final String FOREIGN_KEY = "23503";
  static final String CHECK = "23514";

  static DataSource ds;
  static Rows rows;

  @BeforeAll
  static void database() {
    ds = TestDatabase.migratedDatabase();
    rows = new Rows(ds);
  }

  @Test
  void aSeqIdIsUsedOncePerModel() throws SQLException {
    String tenant = rows.tenant();
    String model = rows.trainingRun(tenant);
    String other = rows.trainingRun(tenant);
    rows.request(tenant, model, 1);

    assertThatThrownBy(() -> rows.request(tenant, model, 1)).satisfies(sqlState(UNIQUE));
    rows.request(tenant, other, 1); // same seq_id, another model: fine
    rows.request(tenant, model, 2);
    assertThat(rows.count("SELECT count(*) FROM requests WHERE model_id = ?", model)).isEqualTo(2);
  }

  @Test
  void requestsWithoutAModelDoNotCollide() throws SQLException {
    String tenant = rows.tenant();
    rows.request(tenant, null, null);
    rows.request(tenant, null, null);
    assertThat(rows.count("SELECT count(*) FROM requests WHERE tenant_id = ?", tenant))
        .isEqualTo(2);
  }

  @Test
  void everythingBelongsToAnExistingTenant() {
    assertThatThrownBy(() -> rows.trainingRun("tnt-missing")).satisfies(sqlState(FOREIGN_KEY));
    assertThatThrownBy(
            () ->
                rows.update(
                    "INSERT INTO api_keys (tenant_id, key_hash, key_prefix) VALUES (?, ?, ?)",
                    "tnt-missing",
                    Rows.sha256("k"),
                    "tml-abc"))
        .satisfies(sqlState(FOREIGN_KEY));
    assertThatThrownBy(() -> rows.request("tnt-missing", null, null))
        .satisfies(sqlState(FOREIGN_KEY));
  }

  @Test
  void deletingATenantDeletesItsData() throws SQLException {
    String tenant = rows.tenant();
    String model = rows.trainingRun(tenant);
    rows.request(tenant, model, 0);
    rows.update("DELETE FROM tenants WHERE id = ?", tenant);
    assertThat(rows.count("SELECT count(*) FROM training_runs WHERE tenant_id = ?", tenant))
        .isZero();
    assertThat(rows.count("SELECT count(*) FROM requests WHERE tenant_id = ?", tenant)).isZero();
  }

  @Test
  void statusesAndKindsAreClosedSets() throws SQLException {
    String tenant = rows.tenant();
    String req = rows.request(tenant, null, null);
    assertThatThrownBy(() -> rows.update("UPDATE requests SET status = 'lost' WHERE id = ?", req))
        .satisfies(sqlState(CHECK));
    assertThatThrownBy(
            () -> rows.update("UPDATE requests SET kind = 'train_everything' WHERE id = ?", req))
        .satisfies(sqlState(CHECK));
    assertThatThrownBy(
            () -> rows.update("UPDATE tenants SET status = 'deleted' WHERE id = ?", tenant))
        .satisfies(sqlState(CHECK));
  }

  @Test
  void aFutureIsDoneWithAResultOrFailedWithAnError() throws SQLException {
    String tenant = rows.tenant();
    String req = rows.request(tenant, null, null);
    assertThatThrownBy(() -> rows.update("UPDATE requests SET status = 'done' WHERE id = ?", req))
        .satisfies(sqlState(CHECK));
    assertThatThrownBy(
            () ->
                rows.update("UPDATE requests SET status = 'failed', error = 'x' WHERE id = ?", req))
        .satisfies(sqlState(CHECK));
    assertThatThrownBy(
            () -> rows.update("UPDATE requests SET status = 'running' WHERE id = ?", req))
        .satisfies(sqlState(CHECK));
    assertThat(
            rows.update(
                "UPDATE requests SET status = 'done', result = '{\"ok\": true}' WHERE id = ?", req))
        .isEqualTo(1);
  }

  @Test
  void checkpointNamesAreUniquePerRunAndKindAndSafeAsFileNames() throws SQLException {
    String tenant = rows.tenant();
    String run = rows.trainingRun(tenant);
    String insert =
        "INSERT INTO checkpoints (tenant_id, training_run_id, kind, name, storage_path,"
            + " size_bytes, step) VALUES (?, ?, ?, ?, 'p', 10, 1)";
    rows.update(insert, tenant, run, "weights", "step-1");
    rows.update(insert, tenant, run, "sampler_weights", "step-1");
    assertThatThrownBy(() -> rows.update(insert, tenant, run, "weights", "step-1"))
        .satisfies(sqlState(UNIQUE));
    assertThatThrownBy(() -> rows.update(insert, tenant, run, "weights", "../../etc/passwd"))
        .satisfies(sqlState(CHECK));
    assertThatThrownBy(() -> rows.update(insert, tenant, run, "optimizer", "x"))
        .satisfies(sqlState(CHECK));
  }

  @Test
  void keysAreStoredAsSha256Only() throws SQLException {
    String tenant = rows.tenant();
    String insert = "INSERT INTO api_keys (tenant_id, key_hash, key_prefix) VALUES (?, ?, ?)";
    rows.update(insert, tenant, Rows.sha256("tml-one"), "tml-one");
    assertThatThrownBy(() -> rows.update(insert, tenant, "tml-plain".getBytes(), "tml-two"))
        .satisfies(sqlState(CHECK));
    assertThatThrownBy(() -> rows.update(insert, tenant, Rows.sha256("tml-one"), "tml-three"))
        .satisfies(sqlState(UNIQUE));
  }

  @Test
  void usageBucketsAreWholeHours() throws SQLException {
    String tenant = rows.tenant();
    String insert =
        "INSERT INTO usage_counters (tenant_id, bucket_start) VALUES (?, ?::timestamptz)";
    rows.update(insert, tenant, "2026-11-23 18:00:00+00");
    assertThatThrownBy(() -> rows.update(insert, tenant, "2026-11-23 18:30:00+00"))
        .satisfies(sqlState(CHECK));
  }

  private static org.assertj.core.api.ThrowingConsumer<Throwable> sqlState(String state) {
    return e -> assertThat(((SQLException) e).getSQLState()).isEqualTo(state);
  }
}
