package dev.lathe.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.testing.TestDatabase;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/** Cluster-style start: an external PostgreSQL given by URL, real HTTP on a random port. */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
class ExternalDatabaseTest {

  static final DataSource db = TestDatabase.emptyDatabase();

  @DynamicPropertySource
  static void database(DynamicPropertyRegistry registry) {
    registry.add("lathe.db.url", () -> TestDatabase.jdbcUrl(db));
    registry.add("lathe.db.user", () -> TestDatabase.server().user());
    registry.add("lathe.db.password", () -> TestDatabase.server().password());
  }

  @LocalServerPort int port;
  @Autowired DataSource dataSource;

  @Test
  void servesHealthOverHttpAndMigratesTheExternalDatabase() throws Exception {
    HttpResponse<String> health = get("/api/v1/healthz");
    assertThat(health.statusCode()).isEqualTo(200);
    assertThat(health.headers().firstValue("content-type"))
        .hasValueSatisfying(v -> assertThat(v).startsWith("application/json"));
    assertThat(health.body()).isEqualTo("{\"status\":\"ok\"}");

    Integer applied =
        new JdbcTemplate(db)
            .queryForObject(
                "SELECT count(*) FROM flyway_schema_history WHERE success", Integer.class);
    assertThat(applied).isEqualTo(Migrations.count());
    assertThat(get("/actuator/health/readiness").body()).contains("\"UP\"");
  }

  @Test
  void unknownPathsAreA404AndTheApiNeedsAKey() throws Exception {
    assertThat(get("/no_such_page").statusCode()).isEqualTo(404);
    assertThat(get("/api/v1/no_such_endpoint").statusCode()).isEqualTo(401);
  }

  private HttpResponse<String> get(String path) throws Exception {
    return HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
            HttpResponse.BodyHandlers.ofString());
  }
}
