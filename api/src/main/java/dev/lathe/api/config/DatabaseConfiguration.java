package dev.lathe.api.config;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The one DataSource: the external PostgreSQL of {@code LATHE_DB_URL}, or else an embedded
 * PostgreSQL (real server binaries) whose data lives in {@code <data dir>/postgres} and survives
 * restarts.
 */
@Configuration(proxyBeanMethods = false)
class DatabaseConfiguration {

  private static final Logger log = LoggerFactory.getLogger(DatabaseConfiguration.class);

  @Bean(destroyMethod = "close")
  HikariDataSource dataSource(LatheProperties props) {
    HikariConfig config = new HikariConfig();
    config.setPoolName("lathe");
    config.setMaximumPoolSize(16);
    // A request that cannot get a connection in 5 s fails (503 from the pool's error) rather than
    // hanging on a database that is down; the worker retries its loop.
    config.setConnectionTimeout(5_000);
    if (props.db().external()) {
      config.setJdbcUrl(props.db().url());
      config.setUsername(props.db().user());
      config.setPassword(props.db().password());
      log.info("Database: external PostgreSQL at {}", props.db().url().replaceFirst("\\?.*", ""));
      return new HikariDataSource(config);
    }
    EmbeddedPostgres pg = startEmbedded(props.dataDir().resolve("postgres"));
    config.setDataSource(pg.getPostgresDatabase());
    return new HikariDataSource(config) {
      @Override
      public void close() {
        super.close();
        try {
          pg.close();
        } catch (IOException e) {
          log.warn("embedded PostgreSQL did not stop cleanly", e);
        }
      }
    };
  }

  private static EmbeddedPostgres startEmbedded(Path dir) {
    try {
      Files.createDirectories(dir);
      stopOrphan(dir);
      EmbeddedPostgres pg =
          EmbeddedPostgres.builder()
              .setDataDirectory(dir)
              .setCleanDataDirectory(false)
              .setServerConfig("listen_addresses", "127.0.0.1")
              .start();
      log.info("Database: embedded PostgreSQL on 127.0.0.1:{}, data in {}", pg.getPort(), dir);
      return pg;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start the embedded PostgreSQL in " + dir, e);
    }
  }

  /**
   * Stops the embedded PostgreSQL of a Lathe that died without stopping it (kill -9, OOM kill): the
   * server outlives the process that started it and holds the data directory. Asked to shut down,
   * then killed after 30 s (it recovers from its log at the next start).
   */
  static void stopOrphan(Path dir) throws IOException {
    Path pidFile = dir.resolve("postmaster.pid");
    if (!Files.isRegularFile(pidFile)) {
      return;
    }
    long pid;
    try {
      pid = Long.parseLong(Files.readAllLines(pidFile).getFirst().trim());
    } catch (RuntimeException e) {
      return; // not a pid: PostgreSQL itself decides what to do with the file
    }
    ProcessHandle orphan =
        ProcessHandle.of(pid)
            .filter(p -> p.info().command().map(c -> c.endsWith("postgres")).orElse(false))
            .orElse(null);
    if (orphan == null) {
      return; // stale: PostgreSQL sees that no server runs and starts over it
    }
    log.warn("stopping the embedded PostgreSQL (pid {}) left running by a previous start", pid);
    orphan.destroy();
    try {
      orphan.onExit().get(30, java.util.concurrent.TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      orphan.destroyForcibly();
      orphan.onExit().join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while stopping PostgreSQL pid " + pid, e);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IOException(e);
    }
  }
}
