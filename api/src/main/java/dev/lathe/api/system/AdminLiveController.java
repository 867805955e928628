package dev.lathe.api.system;

import dev.lathe.contracts.WireJson;
import java.util.List;
import java.util.Map;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import tools.jackson.databind.JsonNode;

/**
 * The live view: the queue by primitive and state, and every worker with a current lease, its base
 * model and what its last heartbeat said (adapters resident, cache hit rate, cycle time).
 */
@RestController
class AdminLiveController {

  private final JdbcClient jdbc;

  AdminLiveController(JdbcClient jdbc) {
    this.jdbc = jdbc;
  }

  @GetMapping("/admin/v1/live")
  Map<String, Object> live() {
    List<Map<String, Object>> queue =
        jdbc.sql(
                "SELECT kind, status, count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
                    + " FROM requests WHERE status IN ('pending', 'running') GROUP BY kind, status"
                    + " ORDER BY kind, status")
            .query(
                (rs, n) ->
                    Map.<String, Object>of(
                        "kind", rs.getString(1),
                        "status", rs.getString(2),
                        "count", rs.getLong(3),
                        "oldest_seconds", rs.getDouble(4)))
            .list();
    List<Map<String, Object>> workers =
        jdbc.sql(
                "SELECT worker_id, base_model, coalesce(hostname, ''), heartbeat_at, stats::text"
                    + " FROM worker_leases WHERE expires_at > now() ORDER BY worker_id")
            .query(
                (rs, n) ->
                    Map.<String, Object>of(
                        "worker_id", rs.getString(1),
                        "base_model", rs.getString(2),
                        "hostname", rs.getString(3),
                        "heartbeat_at", rs.getTimestamp(4).toInstant().toString(),
                        "stats", stats(rs.getString(5))))
            .list();
    return Map.of("queue", queue, "workers", workers);
  }

  private static JsonNode stats(String json) {
    return WireJson.mapper().readTree(json == null ? "{}" : json);
  }
}
