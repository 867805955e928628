package dev.lathe.api.training;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.checkpoint.TinkerPath;
import dev.lathe.contracts.training.LoraConfig;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Map;
import java.util.Optional;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Service;

/** Training runs (Tinker's models): one LoRA adapter each. */
@Service
public class TrainingRuns {

  private final JdbcClient jdbc;

  TrainingRuns(JdbcClient jdbc) {
    this.jdbc = jdbc;
  }

  /** A run as the api reads it. */
  public record Run(String id, String baseModel, int rank, LoraConfig lora, String status) {}

  /** Creates the run unless it exists (a retried create_model); returns whether it is new. */
  boolean create(
      Caller caller,
      String id,
      String sessionId,
      int modelSeqId,
      String baseModel,
      LoraConfig lora,
      long seed,
      Map<String, Object> metadata) {
    return jdbc.sql(
                "INSERT INTO training_runs (id, tenant_id, session_id, model_seq_id, base_model,"
                    + " lora_rank, lora_config, lora_seed, user_metadata)"
                    + " VALUES (?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?::jsonb) ON CONFLICT (id) DO NOTHING")
            .params(
                id,
                caller.tenantId(),
                sessionId,
                modelSeqId,
                baseModel,
                lora.rank(),
                WireJson.mapper().writeValueAsString(lora),
                seed,
                metadata == null ? null : WireJson.mapper().writeValueAsString(metadata))
            .update()
        == 1;
  }

  /** The caller's run; 404 for unknown ids and other tenants' runs alike. */
  public Run require(Caller caller, String modelId) {
    if (modelId == null || modelId.isBlank()) {
      throw ApiException.badRequest("model_id", "is required");
    }
    return find(caller, modelId).orElseThrow(() -> ApiException.notFound("model_id", modelId));
  }

  Optional<Run> find(Caller caller, String modelId) {
    return jdbc.sql(
            "SELECT id, base_model, lora_rank, lora_config::text, status FROM training_runs"
                + " WHERE id = ? AND tenant_id = ?")
        .params(modelId, caller.tenantId())
        .query(TrainingRuns::run)
        .optional();
  }

  /** A checkpoint's run, when the caller owns the checkpoint or it is published. */
  Optional<Run> byCheckpoint(Caller caller, TinkerPath path) {
    return jdbc.sql(
            "SELECT r.id, r.base_model, r.lora_rank, r.lora_config::text, r.status FROM checkpoints c"
                + " JOIN training_runs r ON r.id = c.training_run_id WHERE c.training_run_id = ?"
                + " AND c.kind = ? AND c.name = ? AND (c.tenant_id = ? OR c.published)")
        .params(path.trainingRunId(), path.kind(), path.name(), caller.tenantId())
        .query(TrainingRuns::run)
        .optional();
  }

  private static Run run(ResultSet rs, int row) throws SQLException {
    return new Run(
        rs.getString(1),
        rs.getString(2),
        rs.getInt(3),
        WireJson.mapper().readValue(rs.getString(4), LoraConfig.class),
        rs.getString(5));
  }
}
