package dev.lathe.api.future;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.WireJson;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Service;
import tools.jackson.databind.JsonNode;

/**
 * The futures: one {@code requests} row per async call. A training call is idempotent on (model_id,
 * seq_id): the same body returns the same future, another body is a 422.
 */
@Service
public class Requests {

  private final JdbcClient jdbc;
  private final List<QueueListener> listeners;

  Requests(JdbcClient jdbc, List<QueueListener> listeners) {
    this.jdbc = jdbc;
    this.listeners = listeners;
  }

  /** A request row as the future endpoint reads it. */
  record Row(String id, String kind, String status, String result, String error, String category) {}

  /**
   * Queues a request and returns its id.
   *
   * @param seqField the body field that carried seqId, named in a 422
   */
  public String enqueue(
      Caller caller,
      String baseModel,
      String kind,
      String modelId,
      String samplingSessionId,
      Integer seqId,
      Object body,
      String seqField) {
    String json = WireJson.mapper().writeValueAsString(body);
    byte[] hash = sha256(json);
    String id = UUID.randomUUID().toString();
    Optional<String> inserted =
        jdbc.sql(
                "INSERT INTO requests (id, tenant_id, base_model, model_id, sampling_session_id, seq_id,"
                    + " kind, body, body_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?)"
                    + " ON CONFLICT DO NOTHING RETURNING id")
            .params(
                id,
                caller.tenantId(),
                baseModel,
                modelId,
                samplingSessionId,
                seqId,
                kind,
                json,
                hash)
            .query(String.class)
            .optional();
    if (inserted.isEmpty()) {
      return duplicate(caller, modelId, samplingSessionId, seqId, kind, hash, seqField);
    }
    listeners.forEach(l -> l.queued(modelId));
    return inserted.get();
  }

  private String duplicate(
      Caller caller,
      String modelId,
      String samplingSessionId,
      Integer seqId,
      String kind,
      byte[] hash,
      String seqField) {
    record Existing(String id, String tenantId, String kind, byte[] hash) {}
    Existing e =
        jdbc.sql(
                "SELECT id, tenant_id, kind, body_sha256 FROM requests WHERE seq_id = ? AND"
                    + " (model_id = ? OR sampling_session_id = ?)")
            .params(seqId, modelId, samplingSessionId)
            .query(
                (rs, n) ->
                    new Existing(rs.getString(1), rs.getString(2), rs.getString(3), rs.getBytes(4)))
            .optional()
            .orElseThrow(() -> new IllegalStateException("request insert conflicted on nothing"));
    if (!e.tenantId().equals(caller.tenantId())) {
      throw ApiException.notFound("model_id", modelId);
    }
    if (!e.kind().equals(kind) || !Arrays.equals(e.hash(), hash)) {
      throw ApiException.conflict(
          seqField, "seq_id " + seqId + " was already used for another " + e.kind() + " request");
    }
    return e.id();
  }

  Optional<Row> find(Caller caller, String requestId) {
    return jdbc.sql(
            "SELECT id, kind, status, result::text, error, error_category FROM requests"
                + " WHERE id = ? AND tenant_id = ?")
        .params(requestId, caller.tenantId())
        .query(
            (rs, n) ->
                new Row(
                    rs.getString(1),
                    rs.getString(2),
                    rs.getString(3),
                    rs.getString(4),
                    rs.getString(5),
                    rs.getString(6)))
        .optional();
  }

  /** The finished result of a request, for synchronous reads of small futures. */
  static JsonNode parse(String json) {
    return WireJson.mapper().readTree(json);
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
