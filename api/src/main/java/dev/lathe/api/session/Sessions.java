package dev.lathe.api.session;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.session.CreateSessionRequest;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Service;
import tools.jackson.core.type.TypeReference;

/** Client sessions: the parent of a client's training runs and sampling sessions. */
@Service
public class Sessions {

  private final JdbcClient jdbc;

  Sessions(JdbcClient jdbc) {
    this.jdbc = jdbc;
  }

  String create(Caller caller, CreateSessionRequest req) {
    String id = UUID.randomUUID().toString();
    jdbc.sql(
            "INSERT INTO sessions (id, tenant_id, tags, user_metadata, sdk_version, project_id,"
                + " display_name) VALUES (?, ?, ?, ?::jsonb, ?, ?, ?)")
        .params(
            id,
            caller.tenantId(),
            req.tags().toArray(String[]::new),
            req.userMetadata() == null
                ? null
                : WireJson.mapper().writeValueAsString(req.userMetadata()),
            req.sdkVersion(),
            req.projectId(),
            req.displayName())
        .update();
    return id;
  }

  /** What GET /sessions/{id} shows besides the session's runs and samplers. */
  record Details(Map<String, Object> userMetadata, String displayName) {}

  Details details(String sessionId) {
    return jdbc.sql("SELECT user_metadata::text, display_name FROM sessions WHERE id = ?")
        .param(sessionId)
        .query(
            (rs, n) ->
                new Details(
                    rs.getString(1) == null
                        ? null
                        : WireJson.mapper().readValue(rs.getString(1), METADATA),
                    rs.getString(2)))
        .single();
  }

  private static final TypeReference<Map<String, Object>> METADATA = new TypeReference<>() {};

  /** Marks the session finished (the client closed it), with why; finishing twice is a no-op. */
  void finish(Caller caller, String sessionId, String reason, String detail) {
    jdbc.sql(
            "UPDATE sessions SET finished_at = now(), finish_reason = ?, finish_detail = ?"
                + " WHERE id = ? AND tenant_id = ? AND finished_at IS NULL")
        .params(reason, detail, sessionId, caller.tenantId())
        .update();
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
