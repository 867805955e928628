package dev.lathe.testing;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.postgresql.ds.PGSimpleDataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.postgresql.PostgreSQLContainer;

/**
 * The one PostgreSQL that every module's integration tests use.
 *
 * <p>A real server either way: a Testcontainers PostgreSQL when a Docker engine answers, otherwise
 * an embedded PostgreSQL (real binaries, started from the test JVM). The server starts once per
 * JVM; each caller gets a database of its own, so tests never see each other's rows.
 */
public final class TestDatabase {

  private static final Logger log = LoggerFactory.getLogger(TestDatabase.class);
  private static final String IMAGE = "postgres:16-alpine";
  private static final AtomicInteger databases = new AtomicInteger();
  private static Server server;

  private TestDatabase() {}

  /** A server's admin connection details. */
  public record Server(String kind, String host, int port, String user, String password) {

    public String jdbcUrl(String database) {
      return "jdbc:postgresql://" + host + ":" + port + "/" + database;
    }
  }

  /** Starts the server on first use and tells which kind ran. */
  public static synchronized Server server() {
    if (server == null) {
      server = dockerAvailable() ? startContainer() : startEmbedded();
      log.info(
          "Test database: {} PostgreSQL on {}:{}", server.kind(), server.host(), server.port());
    }
    return server;
  }

  /** A new, empty database on the shared server. */
  public static DataSource emptyDatabase() {
    Server s = server();
    String name = "lathe_test_" + ProcessHandle.current().pid() + "_" + databases.incrementAndGet();
    try (Connection c = dataSource(s, "postgres").getConnection();
        Statement st = c.createStatement()) {
      st.execute("CREATE DATABASE " + name);
    } catch (SQLException e) {
      throw new IllegalStateException("cannot create test database " + name, e);
    }
    return dataSource(s, name);
  }

  /** A new database with every Lathe migration applied. */
  public static DataSource migratedDatabase() {
    DataSource ds = emptyDatabase();
    flyway(ds).migrate();
    return ds;
  }

  /** Flyway configured exactly as the application configures it. */
  public static Flyway flyway(DataSource ds) {
    return Flyway.configure()
        .dataSource(ds)
        .locations("classpath:db/migration")
        .failOnMissingLocations(true)
        .load();
  }

  /** The JDBC URL of a data source made by this class. */
  public static String jdbcUrl(DataSource ds) {
    return server().jdbcUrl(((PGSimpleDataSource) ds).getDatabaseName());
  }

  private static PGSimpleDataSource dataSource(Server s, String database) {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setUrl(s.jdbcUrl(database));
    ds.setUser(s.user());
    ds.setPassword(s.password());
    return ds;
  }

  private static boolean dockerAvailable() {
    if ("embedded".equals(System.getenv("LATHE_TEST_DB"))) {
      return false;
    }
    try {
      return DockerClientFactory.instance().isDockerAvailable();
    } catch (RuntimeException | LinkageError e) {
      return false;
    }
  }

  @SuppressWarnings("resource") // lives as long as the JVM; Testcontainers' reaper stops it
  private static Server startContainer() {
    PostgreSQLContainer container = new PostgreSQLContainer(IMAGE);
    container.start();
    return new Server(
        "Testcontainers (" + IMAGE + ")",
        container.getHost(),
        container.getFirstMappedPort(),
        container.getUsername(),
        container.getPassword());
  }

  private static Server startEmbedded() {
    try {
      EmbeddedPostgres pg = EmbeddedPostgres.builder().start();
      Runtime.getRuntime()
          .addShutdownHook(
              new Thread(
                  () -> {
                    try {
                      pg.close();
                    } catch (IOException e) {
                      log.warn("embedded PostgreSQL did not stop cleanly", e);
                    }
                  }));
      return new Server("embedded", "localhost", pg.getPort(), "postgres", "postgres");
    } catch (IOException e) {
      throw new IllegalStateException("cannot start embedded PostgreSQL", e);
    }
  }
}
