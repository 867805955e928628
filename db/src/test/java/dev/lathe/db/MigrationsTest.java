package dev.lathe.db;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.testing.TestDatabase;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.MigrationInfo;
import org.flywaydb.core.api.MigrationState;
import org.flywaydb.core.api.output.MigrateResult;
import org.junit.jupiter.api.Test;

class MigrationsTest {

  @Test
  void allMigrationsApplyToAnEmptyDatabaseInOrder() throws Exception {
    DataSource ds = TestDatabase.emptyDatabase();
    Flyway flyway = TestDatabase.flyway(ds);

    MigrateResult result = flyway.migrate();

    assertThat(result.success).isTrue();
    assertThat(result.migrationsExecuted).isEqualTo(17);
    for (MigrationInfo m : flyway.info().all()) {
      assertThat(m.getState()).as(m.getScript()).isEqualTo(MigrationState.SUCCESS);
      assertThat(m.getScript()).matches("V\\d+__[a-z]+_[a-z_]+\\.sql");
    }
    assertThat(tables(ds))
        .contains(
            "tenants",
            "api_keys",
            "admin_keys",
            "sessions",
            "training_runs",
            "sampling_sessions",
            "requests",
            "checkpoints",
            "step_metrics",
            "usage_counters",
            "worker_leases",
            "server_secrets",
            "token_buckets");
  }

  /** V14 carries the usage that finished requests counted into usage_counters. */
  @Test
  void theUsageBackfillCountsWhatFinishedBeforeIt() throws Exception {
    DataSource ds = TestDatabase.emptyDatabase();
    Flyway.configure()
        .dataSource(ds)
        .locations("classpath:db/migration")
        .target("13")
        .load()
        .migrate();
    Rows rows = new Rows(ds);
    String tenant = rows.tenant();
    String run = rows.trainingRun(tenant);
    for (int seq = 1; seq <= 3; seq++) {
      rows.update(
          "UPDATE requests SET status = 'done', result = '{}', tokens = ?, finished_at = now()"
              + " WHERE id = ?",
          10 * seq,
          rows.request(tenant, run, seq));
    }
    rows.update(
        "UPDATE requests SET status = 'failed', error = 'x', error_category = 'user',"
            + " finished_at = now() WHERE id = ?",
        rows.request(tenant, run, 4));
    rows.request(tenant, run, 5); // pending: counted when it finishes

    TestDatabase.flyway(ds).migrate();

    assertThat(
            rows.count(
                "SELECT sum(tokens_trained) FROM usage_counters WHERE tenant_id = ?", tenant))
        .isEqualTo(60);
    assertThat(rows.count("SELECT sum(requests) FROM usage_counters WHERE tenant_id = ?", tenant))
        .isEqualTo(4);
    assertThat(rows.count("SELECT snapshot_seq FROM training_runs WHERE id = ?", run))
        .isEqualTo(-1);
  }

  @Test
  void migratingTwiceChangesNothing() {
    DataSource ds = TestDatabase.migratedDatabase();
    MigrateResult again = TestDatabase.flyway(ds).migrate();
    assertThat(again.migrationsExecuted).isZero();
    assertThat(TestDatabase.flyway(ds).validateWithResult().validationSuccessful).isTrue();
  }

  private static List<String> tables(DataSource ds) throws Exception {
    List<String> out = new ArrayList<>();
    try (Connection c = ds.getConnection();
        ResultSet rs = c.getMetaData().getTables(null, "public", "%", new String[] {"TABLE"})) {
      while (rs.next()) {
        out.add(rs.getString("TABLE_NAME"));
      }
    }
    return out;
  }
}
