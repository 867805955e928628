package dev.lathe.api.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.api.auth.Keys;
import java.sql.Timestamp;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * API keys in use: a key's last-used time is written on its first call and then at most once a
 * minute (not a write per request), and a revoked key is refused on its very next call.
 */
class ApiKeysTest extends ApiTestBase {

  Timestamp lastUsed(String key) {
    return new JdbcTemplate(dataSource)
        .queryForObject(
            "SELECT last_used_at FROM api_keys WHERE key_prefix = ?",
            Timestamp.class,
            Keys.displayPrefix(key));
  }

  int capabilities(String key) {
    return http.get(key, "/api/v1/get_server_capabilities").status();
  }

  @Test
  void lastUsedIsWrittenOnFirstUseAndNotOnEveryCall() {
    String key = newTenant("keys-last-used");
    assertThat(lastUsed(key)).isNull();

    assertThat(capabilities(key)).isEqualTo(200);
    Timestamp first = lastUsed(key);
    assertThat(first).isNotNull();

    for (int i = 0; i < 5; i++) {
      assertThat(capabilities(key)).isEqualTo(200);
    }
    assertThat(lastUsed(key)).isEqualTo(first);
  }

  @Test
  void aRevokedKeyIsRefusedAtOnce() {
    String key = newTenant("keys-revoked");
    assertThat(capabilities(key)).isEqualTo(200);

    Http.Response revoked = http.delete(ADMIN, "/admin/v1/api_keys/" + Keys.displayPrefix(key));
    assertThat(revoked.status()).as(revoked.body()).isBetween(200, 204);

    Http.Response refused = http.get(key, "/api/v1/get_server_capabilities");
    assertThat(refused.status()).as(refused.body()).isEqualTo(401);
  }
}
