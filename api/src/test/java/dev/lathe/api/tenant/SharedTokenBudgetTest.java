package dev.lathe.api.tenant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.web.ApiException;
import dev.lathe.testing.TestDatabase;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.simple.JdbcClient;

/**
 * Tokens per minute are one budget however many api replicas take from it: two {@link TenantQuotas}
 * on one database (two replicas), called concurrently, never admit more than a minute's tokens
 * between them.
 */
class SharedTokenBudgetTest {

  private final DataSource ds = TestDatabase.migratedDatabase();
  private final JdbcClient jdbc = JdbcClient.create(ds);

  @Test
  void twoReplicasShareOneBudget() throws Exception {
    jdbc.sql("INSERT INTO tenants (id, name, max_tokens_per_minute) VALUES ('t-rate', 'r', 6000)")
        .update();
    Caller caller = new Caller("t-rate", "r");
    List<TenantQuotas> replicas = List.of(new TenantQuotas(jdbc), new TenantQuotas(jdbc));
    // 8 threads each try 20 calls of 100 tokens on alternating replicas: 16,000 tokens asked for,
    // 6,000 in the bucket (plus what refills, 100 per second, during the few seconds this takes).
    ExecutorService pool = Executors.newFixedThreadPool(8);
    List<Callable<Integer>> tasks = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      int thread = t;
      tasks.add(
          () -> {
            int admitted = 0;
            for (int i = 0; i < 20; i++) {
              try {
                replicas.get((thread + i) % 2).spendTokens(caller, 100, "data");
                admitted++;
              } catch (ApiException e) {
                assertThat(e.getMessage()).contains("6000 tokens per minute are used up");
              }
            }
            return admitted;
          });
    }
    long start = System.nanoTime();
    int admitted = 0;
    for (Future<Integer> f : pool.invokeAll(tasks)) {
      admitted += f.get();
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    pool.shutdown();
    int refilled = (int) Math.ceil(seconds); // 100 tokens a second: one call's worth
    assertThat(admitted).isBetween(60, 60 + refilled + 1);

    // The next call on either replica waits for the refill: Retry-After of about a second.
    assertThatThrownBy(() -> replicas.get(0).spendTokens(caller, 600, "data"))
        .isInstanceOfSatisfying(
            ApiException.class, e -> assertThat(e.retryAfterSeconds()).isBetween(1L, 7L));
  }
}
