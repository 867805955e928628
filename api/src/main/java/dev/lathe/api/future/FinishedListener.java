package dev.lathe.api.future;

import dev.lathe.api.config.LatheProperties;
import dev.lathe.worker.runtime.WorkerStore;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

/**
 * Listens on PostgreSQL for the requests that workers finish (they notify in the transaction that
 * marks a request done or failed) and wakes that request's long-polls, whichever process runs the
 * worker. One connection of the pool is held for it; on a lost connection it listens again.
 */
@Component
class FinishedListener implements SmartLifecycle {

  private static final Logger log = LoggerFactory.getLogger(FinishedListener.class);
  private static final int POLL_MILLIS = 500;

  private final DataSource dataSource;
  private final FutureSignals signals;
  private final boolean enabled;
  private volatile boolean running;
  private Thread thread;

  FinishedListener(DataSource dataSource, FutureSignals signals, LatheProperties props) {
    this.dataSource = dataSource;
    this.signals = signals;
    this.enabled = props.role().runsApi();
  }

  @Override
  public void start() {
    if (!enabled) {
      return;
    }
    running = true;
    thread = Thread.ofPlatform().name("lathe-finished-listener").daemon(true).start(this::loop);
  }

  private void loop() {
    while (running) {
      try (Connection c = dataSource.getConnection();
          Statement st = c.createStatement()) {
        st.execute("LISTEN " + WorkerStore.FINISHED_CHANNEL);
        PGConnection pg = c.unwrap(PGConnection.class);
        while (running) {
          PGNotification[] got = pg.getNotifications(POLL_MILLIS);
          if (got != null) {
            for (PGNotification n : got) {
              signals.finished(n.getParameter());
            }
          }
        }
      } catch (SQLException e) {
        if (running) {
          log.warn("listening for finished requests failed; listening again", e);
          sleep();
        }
      }
    }
  }

  private static void sleep() {
    try {
      Thread.sleep(1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void stop() {
    running = false;
    if (thread != null) {
      try {
        thread.join(2 * POLL_MILLIS + 1000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Override
  public boolean isRunning() {
    return running;
  }
}
