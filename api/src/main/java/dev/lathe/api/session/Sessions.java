package dev.lathe.api.session;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.WireJson;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Service;

/** Client sessions: the parent of a client's training runs and sampling sessions. */
@Service
public class Sessions {

  private final JdbcClient jdbc;

  Sessions(JdbcClient jdbc) {
    this.jdbc = jdbc;
  }

  String create(
      Caller caller, List<String> tags, Map<String, Object> metadata, String sdk, String project) {
    String id = UUID.randomUUID().toString();
    jdbc.sql(
            "INSERT INTO sessions (id, tenant_id, tags, user_metadata, sdk_version, project_id)"
                + " VALUES (?, ?, ?, ?::jsonb, ?, ?)")
        .params(
            id,
            caller.tenantId(),
            tags.toArray(String[]::new),
            metadata == null ? null : WireJson.mapper().writeValueAsString(metadata),
            sdk,
            project)
        .update();
    return id;
  }

  /** Checks that the caller owns the session; 404 otherwise. */
  public void require(Caller caller, String sessionId, String field) {
    if (sessionId == null || sessionId.isBlank()) {
      throw ApiException.badRequest(field, "is required");
    }
    boolean found =
        jdbc.sql("SELECT count(*) FROM sessions WHERE id = ? AND tenant_id = ?")
                .params(sessionId, caller.tenantId())
                .query(Long.class)
                .single()
            > 0;
    if (!found) {
      throw ApiException.notFound(field, sessionId);
    }
  }

  void heartbeat(Caller caller, String sessionId) {
    int n =
        jdbc.sql("UPDATE sessions SET last_heartbeat_at = now() WHERE id = ? AND tenant_id = ?")
            .params(sessionId, caller.tenantId())
            .update();
    if (n == 0) {
      throw ApiException.notFound("session_id", sessionId);
    }
  }

  List<String> list(Caller caller, int limit, int offset) {
    return jdbc.sql(
            "SELECT id FROM sessions WHERE tenant_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?")
        .params(caller.tenantId(), limit, offset)
        .query(String.class)
        .list();
  }

  List<String> trainingRuns(String sessionId) {
    return jdbc.sql("SELECT id FROM training_runs WHERE session_id = ? ORDER BY model_seq_id")
        .param(sessionId)
        .query(String.class)
        .list();
  }

  List<String> samplers(String sessionId) {
    return jdbc.sql(
            "SELECT id FROM sampling_sessions WHERE session_id = ? ORDER BY sampling_session_seq_id")
        .param(sessionId)
        .query(String.class)
        .list();
  }
}
