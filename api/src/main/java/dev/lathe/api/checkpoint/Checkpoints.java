package dev.lathe.api.checkpoint;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.checkpoint.Checkpoint;
import dev.lathe.contracts.checkpoint.CheckpointStorageUsage;
import dev.lathe.contracts.checkpoint.CheckpointType;
import dev.lathe.contracts.checkpoint.TinkerPath;
import dev.lathe.contracts.checkpoint.TrainingRun;
import dev.lathe.worker.store.Trees;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Service;
import tools.jackson.databind.JsonNode;

/** Training runs and their saved checkpoints, per tenant. */
@Service
class Checkpoints {

  private static final String CHECKPOINT_COLUMNS =
      "c.training_run_id, c.kind, c.name, c.created_at, c.size_bytes, c.published, c.expires_at, c.storage_path";

  private final JdbcClient jdbc;

  Checkpoints(JdbcClient jdbc) {
    this.jdbc = jdbc;
  }

  /** A checkpoint row with where its files are. */
  record Stored(Checkpoint checkpoint, Path files) {}

  long countRuns(Caller caller) {
    return jdbc.sql("SELECT count(*) FROM training_runs WHERE tenant_id = ?")
        .param(caller.tenantId())
        .query(Long.class)
        .single();
  }

  List<TrainingRun> runs(Caller caller, int limit, int offset) {
    return jdbc
        .sql(
            "SELECT id FROM training_runs WHERE tenant_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?")
        .params(caller.tenantId(), limit, offset)
        .query(String.class)
        .list()
        .stream()
        .map(id -> run(caller, id).orElseThrow())
        .toList();
  }

  Optional<TrainingRun> run(Caller caller, String id) {
    return jdbc.sql(
            "SELECT id, base_model, tenant_id, lora_rank, last_request_at, user_metadata::text"
                + " FROM training_runs WHERE id = ? AND tenant_id = ?")
        .params(id, caller.tenantId())
        .query(
            (rs, n) ->
                new TrainingRun(
                    rs.getString(1),
                    rs.getString(2),
                    rs.getString(3),
                    true,
                    false,
                    rs.getInt(4),
                    instant(rs, 5),
                    latest(id, "weights"),
                    latest(id, "sampler_weights"),
                    metadata(rs.getString(6))))
        .optional();
  }

  /** Live checkpoints per project of the session that made them (null: no project). */
  List<CheckpointStorageUsage.Item> storage(Caller caller, String projectId) {
    return jdbc.sql(
            "SELECT s.project_id, count(*), coalesce(sum(c.size_bytes), 0) FROM checkpoints c"
                + " JOIN training_runs r ON r.id = c.training_run_id"
                + " JOIN sessions s ON s.id = r.session_id"
                + " WHERE c.tenant_id = ? AND (c.expires_at IS NULL OR c.expires_at > now())"
                + " AND (CAST(? AS TEXT) IS NULL OR s.project_id = ?)"
                + " GROUP BY s.project_id ORDER BY s.project_id NULLS FIRST")
        .params(caller.tenantId(), projectId, projectId)
        .query(
            (rs, n) ->
                CheckpointStorageUsage.Item.of(rs.getString(1), rs.getLong(2), rs.getLong(3)))
        .list();
  }

  long countCheckpoints(Caller caller, String runId) {
    return jdbc.sql(
            "SELECT count(*) FROM checkpoints WHERE tenant_id = ? AND (?::text IS NULL OR training_run_id = ?)")
        .params(caller.tenantId(), runId, runId)
        .query(Long.class)
        .single();
  }

  /** The caller's checkpoints, of one run or of all, newest first. */
  List<Checkpoint> checkpoints(Caller caller, String runId, int limit, int offset) {
    return jdbc.sql(
            "SELECT "
                + CHECKPOINT_COLUMNS
                + " FROM checkpoints c WHERE c.tenant_id = ?"
                + " AND (?::text IS NULL OR c.training_run_id = ?) ORDER BY c.created_at DESC, c.id LIMIT ? OFFSET ?")
        .params(caller.tenantId(), runId, runId, limit, offset)
        .query((rs, n) -> stored(rs).checkpoint())
        .list();
  }

  /** One of the caller's checkpoints; 404 for unknown ones and other tenants' alike. */
  Stored require(Caller caller, String runId, String kind, String name) {
    return jdbc.sql(
            "SELECT "
                + CHECKPOINT_COLUMNS
                + " FROM checkpoints c WHERE c.tenant_id = ?"
                + " AND c.training_run_id = ? AND c.kind = ? AND c.name = ?")
        .params(caller.tenantId(), runId, kind, name)
        .query((rs, n) -> stored(rs))
        .optional()
        .orElseThrow(() -> ApiException.notFound("checkpoint_id", kind + "/" + name));
  }

  /**
   * The caller's checkpoint at the {@code tinker://} path given in {@code field}: a 400 naming the
   * field if it is no such path, a 404 if the caller has no such checkpoint.
   */
  TinkerPath requirePath(Caller caller, String path, String field) {
    TinkerPath p;
    try {
      p = TinkerPath.parse(path);
    } catch (IllegalArgumentException e) {
      throw ApiException.badRequest(field, e.getMessage());
    }
    require(caller, p.trainingRunId(), p.kind(), p.name());
    return p;
  }

  /** A checkpoint by id alone, for signed download links. */
  Optional<Stored> find(String runId, String kind, String name) {
    return jdbc.sql(
            "SELECT "
                + CHECKPOINT_COLUMNS
                + " FROM checkpoints c WHERE c.training_run_id = ? AND c.kind = ? AND c.name = ?")
        .params(runId, kind, name)
        .query((rs, n) -> stored(rs))
        .optional();
  }

  /** The tenant's checkpoints that are past their time to live. */
  List<Stored> expired(Caller caller) {
    return jdbc.sql(
            "SELECT "
                + CHECKPOINT_COLUMNS
                + " FROM checkpoints c WHERE c.tenant_id = ? AND c.expires_at < now()")
        .param(caller.tenantId())
        .query((rs, n) -> stored(rs))
        .list();
  }

  /** The paths of these checkpoints that sampling sessions sample from, in one query. */
  Set<String> inUse(List<Checkpoint> cs) {
    if (cs.isEmpty()) {
      return Set.of();
    }
    String[] paths = cs.stream().map(Checkpoint::tinkerPath).toArray(String[]::new);
    return Set.copyOf(
        jdbc.sql("SELECT DISTINCT model_path FROM sampling_sessions WHERE model_path = ANY(?)")
            .param(paths)
            .query(String.class)
            .list());
  }

  /** Deletes the row, then the files; refused while a sampling session samples from it. */
  void delete(Stored s) throws IOException {
    long users =
        jdbc.sql("SELECT count(*) FROM sampling_sessions WHERE model_path = ?")
            .param(s.checkpoint().tinkerPath())
            .query(Long.class)
            .single();
    if (users > 0) {
      throw ApiException.conflict(
          "checkpoint_id", "in use by " + users + " sampling session(s); it cannot be deleted");
    }
    String[] idParts = s.checkpoint().checkpointId().split("/", 2);
    jdbc.sql("DELETE FROM checkpoints WHERE training_run_id = ? AND kind = ? AND name = ?")
        .params(runIdOf(s.checkpoint()), idParts[0], idParts[1])
        .update();
    Trees.discard(s.files());
  }

  void setTtl(Stored s, Long ttlSeconds) {
    String[] idParts = s.checkpoint().checkpointId().split("/", 2);
    jdbc.sql(
            "UPDATE checkpoints SET expires_at = CASE WHEN ?::bigint IS NULL THEN NULL"
                + " ELSE now() + make_interval(secs => ?::bigint) END"
                + " WHERE training_run_id = ? AND kind = ? AND name = ?")
        .params(ttlSeconds, ttlSeconds, runIdOf(s.checkpoint()), idParts[0], idParts[1])
        .update();
  }

  void setPublished(Stored s, boolean published) {
    String[] idParts = s.checkpoint().checkpointId().split("/", 2);
    jdbc.sql(
            "UPDATE checkpoints SET published = ? WHERE training_run_id = ? AND kind = ? AND name = ?")
        .params(published, runIdOf(s.checkpoint()), idParts[0], idParts[1])
        .update();
  }

  private Checkpoint latest(String runId, String kind) {
    return jdbc.sql(
            "SELECT "
                + CHECKPOINT_COLUMNS
                + " FROM checkpoints c WHERE c.training_run_id = ? AND c.kind = ?"
                + " ORDER BY c.created_at DESC, c.id DESC LIMIT 1")
        .params(runId, kind)
        .query((rs, n) -> stored(rs).checkpoint())
        .optional()
        .orElse(null);
  }

  private static String runIdOf(Checkpoint c) {
    String rest = c.tinkerPath().substring("tinker://".length());
    return rest.substring(0, rest.indexOf('/'));
  }

  private static Stored stored(ResultSet rs) throws SQLException {
    String run = rs.getString(1);
    String kind = rs.getString(2);
    String name = rs.getString(3);
    return new Stored(
        new Checkpoint(
            kind + "/" + name,
            kind.equals("weights") ? CheckpointType.TRAINING : CheckpointType.SAMPLER,
            instant(rs, 4),
            "tinker://" + run + "/" + kind + "/" + name,
            rs.getLong(5),
            rs.getBoolean(6),
            instant(rs, 7)),
        Path.of(rs.getString(8)));
  }

  private static Map<String, String> metadata(String json) {
    if (json == null) {
      return null;
    }
    Map<String, String> out = new LinkedHashMap<>();
    JsonNode node = WireJson.mapper().readTree(json);
    node.properties()
        .forEach(
            e ->
                out.put(
                    e.getKey(),
                    e.getValue().isString() ? e.getValue().asString() : e.getValue().toString()));
    return out;
  }

  private static Instant instant(ResultSet rs, int column) throws SQLException {
    Timestamp t = rs.getTimestamp(column);
    return t == null ? null : t.toInstant();
  }
}
