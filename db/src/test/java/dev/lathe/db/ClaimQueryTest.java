package dev.lathe.db;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.testing.TestDatabase;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

/** The workers' claim query hands each pending request to exactly one of several claimers. */
class ClaimQueryTest {

  static String claimSql() throws IOException {
    try (InputStream in =
        ClaimQueryTest.class.getResourceAsStream("/db/queries/claim_pending_requests.sql")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void twoConcurrentClaimersSplitThePendingRequests() throws Exception {
    DataSource ds = TestDatabase.migratedDatabase();
    Rows rows = new Rows(ds);
    String tenant = rows.tenant();
    String model = rows.trainingRun(tenant);
    Set<String> pending = new HashSet<>();
    for (int i = 0; i < 40; i++) {
      pending.add(rows.request(tenant, model, i));
    }
    String sql = claimSql();
    CyclicBarrier bothHoldTheirClaim = new CyclicBarrier(2);

    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<List<String>>> claims = new ArrayList<>();
      for (String worker : List.of("worker-a", "worker-b")) {
        claims.add(
            pool.submit(
                () -> {
                  List<String> mine = new ArrayList<>();
                  try (Connection c = ds.getConnection()) {
                    c.setAutoCommit(false);
                    // Each claims 15 in its own transaction and holds the locks until both did.
                    mine.addAll(claim(c, sql, worker, 15));
                    bothHoldTheirClaim.await();
                    c.commit();
                    // Then both drain the rest; the losers of each race get nothing twice.
                    List<String> more;
                    do {
                      more = claim(c, sql, worker, 4);
                      c.commit();
                      mine.addAll(more);
                    } while (!more.isEmpty());
                  }
                  return mine;
                }));
      }
      List<String> a = claims.get(0).get();
      List<String> b = claims.get(1).get();

      assertThat(a).hasSizeGreaterThanOrEqualTo(15).doesNotHaveDuplicates();
      assertThat(b).hasSizeGreaterThanOrEqualTo(15).doesNotHaveDuplicates();
      assertThat(a).doesNotContainAnyElementsOf(b);
      Set<String> all = new HashSet<>(a);
      all.addAll(b);
      assertThat(all).isEqualTo(pending);
    } finally {
      pool.shutdownNow();
    }
    assertThat(rows.count("SELECT count(*) FROM requests WHERE status = 'pending'")).isZero();
    assertThat(rows.count("SELECT max(attempts) FROM requests")).isEqualTo(1);
  }

  @Test
  void aClaimTakesOnlyItsBaseModelOldestFirst() throws Exception {
    DataSource ds = TestDatabase.migratedDatabase();
    Rows rows = new Rows(ds);
    String tenant = rows.tenant();
    String model = rows.trainingRun(tenant);
    String first = rows.request(tenant, model, 0);
    String second = rows.request(tenant, model, 1);
    rows.update(
        "UPDATE requests SET created_at = now() + interval '1 second' WHERE id = ?", second);
    String otherModel = rows.request(tenant, null, null);
    rows.update("UPDATE requests SET base_model = 'other-model' WHERE id = ?", otherModel);

    try (Connection c = ds.getConnection()) {
      assertThat(claim(c, claimSql(), "w", 1)).containsExactly(first);
      assertThat(claim(c, claimSql(), "w", 10)).containsExactly(second);
      assertThat(claim(c, claimSql(), "w", 10)).isEmpty();
    }
  }

  @Test
  void aClaimTakesAtMostNPerTenantAndSkipsTheTenantsItIsToldTo() throws Exception {
    DataSource ds = TestDatabase.migratedDatabase();
    Rows rows = new Rows(ds);
    String busy = rows.tenant();
    String busyModel = rows.trainingRun(busy);
    for (int i = 0; i < 30; i++) {
      rows.request(busy, busyModel, i);
    }
    String quiet = rows.tenant();
    String quietModel = rows.trainingRun(quiet);
    Set<String> quietRequests =
        Set.of(rows.request(quiet, quietModel, 0), rows.request(quiet, quietModel, 1));

    try (Connection c = ds.getConnection()) {
      List<String> first = claim(c, claimSql(), "w", 5);
      assertThat(first).hasSize(7).containsAll(quietRequests);
      rows.request(quiet, quietModel, 2);
      List<String> second = claim(c, claimSql(), "w", 5, busy);
      assertThat(second).hasSize(1);
      assertThat(rows.count("SELECT count(*) FROM requests WHERE status = 'pending'"))
          .isEqualTo(25);
    }
  }

  private static List<String> claim(
      Connection c, String sql, String worker, int limit, String... skipTenants)
      throws SQLException {
    try (PreparedStatement st = c.prepareStatement(sql)) {
      st.setString(1, worker);
      st.setString(2, "lathe-tiny");
      st.setArray(3, c.createArrayOf("text", skipTenants));
      st.setInt(4, limit);
      List<String> ids = new ArrayList<>();
      try (ResultSet rs = st.executeQuery()) {
        while (rs.next()) {
          ids.add(rs.getString("id"));
        }
      }
      return ids;
    }
  }
}
