package dev.lathe.api.system;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;

/**
 * What the database knows, as gauges: requests waiting and running by primitive (the queue is
 * shared by every api and worker process), and the bytes of all stored checkpoints. Read at most
 * once per second however often Prometheus scrapes.
 */
@Component
class QueueMetrics implements MeterBinder {

  static final List<String> KINDS =
      List.of(
          "create_model",
          "forward",
          "forward_backward",
          "optim_step",
          "save_weights",
          "save_weights_for_sampler",
          "load_weights",
          "unload_model",
          "sample");
  private static final Duration FRESH = Duration.ofSeconds(1);

  private final JdbcClient jdbc;
  private Map<String, Long> depth = Map.of();
  private long storageBytes;
  private long readAt;

  QueueMetrics(JdbcClient jdbc) {
    this.jdbc = jdbc;
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    for (String status : List.of("pending", "running")) {
      for (String kind : KINDS) {
        Gauge.builder("lathe.queue.depth", this, q -> q.depth(status + "/" + kind))
            .description("requests in the queue")
            .tag("status", status)
            .tag("kind", kind)
            .register(registry);
      }
    }
    Gauge.builder("lathe.storage.bytes", this, q -> q.refresh().storageBytes)
        .description("bytes of all stored checkpoints")
        .baseUnit("bytes")
        .register(registry);
  }

  private double depth(String key) {
    return refresh().depth.getOrDefault(key, 0L);
  }

  private synchronized QueueMetrics refresh() {
    long now = System.nanoTime();
    if (readAt != 0 && now - readAt < FRESH.toNanos()) {
      return this;
    }
    Map<String, Long> d = new HashMap<>();
    jdbc.sql(
            "SELECT status, kind, count(*) FROM requests WHERE status IN ('pending', 'running')"
                + " GROUP BY status, kind")
        .query(
            rs -> {
              d.put(rs.getString(1) + "/" + rs.getString(2), rs.getLong(3));
            });
    depth = d;
    storageBytes =
        jdbc.sql("SELECT coalesce(sum(size_bytes), 0) FROM checkpoints").query(Long.class).single();
    readAt = now;
    return this;
  }
}
