package dev.lathe.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * The README's start command without a database URL: an embedded PostgreSQL under the data
 * directory, migrated at start, whose rows survive a restart.
 */
class AllInOneTest {

  @TempDir Path dataDir;

  @Test
  void startsWithAnEmbeddedDatabaseThatSurvivesARestart() throws Exception {
    try (ConfigurableApplicationContext first = start()) {
      assertThat(health(first)).isEqualTo(200);
      jdbc(first).update("INSERT INTO tenants (id, name) VALUES ('tnt-keep', 'kept')");
    }
    assertThat(dataDir.resolve("postgres/PG_VERSION")).exists();

    try (ConfigurableApplicationContext second = start()) {
      assertThat(health(second)).isEqualTo(200);
      assertThat(
              jdbc(second)
                  .queryForObject("SELECT name FROM tenants WHERE id = 'tnt-keep'", String.class))
          .isEqualTo("kept");
      assertThat(
              jdbc(second)
                  .queryForObject("SELECT count(*) FROM flyway_schema_history", Integer.class))
          .isEqualTo(Migrations.count());
    }
    assertThat(Files.list(dataDir).map(p -> p.getFileName().toString())).contains("postgres");
  }

  private ConfigurableApplicationContext start() {
    return SpringApplication.run(
        LatheApplication.class,
        "--server.port=0",
        "--lathe.data-dir=" + dataDir,
        "--lathe.db.url=");
  }

  private static JdbcTemplate jdbc(ConfigurableApplicationContext ctx) {
    return new JdbcTemplate(ctx.getBean(DataSource.class));
  }

  private static int health(ConfigurableApplicationContext ctx) throws Exception {
    int port = ((WebServerApplicationContext) ctx).getWebServer().getPort();
    return HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/v1/healthz"))
                .build(),
            HttpResponse.BodyHandlers.discarding())
        .statusCode();
  }
}
