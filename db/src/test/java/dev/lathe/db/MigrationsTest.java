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
    assertThat(result.migrationsExecuted).isEqualTo(13);
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
