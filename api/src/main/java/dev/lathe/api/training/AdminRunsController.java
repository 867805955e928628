package dev.lathe.api.training;

import dev.lathe.api.tenant.Tenants;
import dev.lathe.api.web.ApiException;
import dev.lathe.contracts.Wire;
import dev.lathe.contracts.checkpoint.TinkerPath;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * Training runs for operators: a tenant's runs, and a run's per-step loss, grad norm and KL from
 * the base model (its forgetting probe), with the step each of its checkpoints was saved at.
 */
@RestController
@RequestMapping("/admin/v1")
class AdminRunsController {

  /** A run in the dashboard's list. */
  @Wire
  record RunRow(
      String trainingRunId,
      String baseModel,
      int loraRank,
      String status,
      Instant createdAt,
      Instant lastRequestAt,
      int steps,
      Double lastLoss) {}

  /**
   * One optimizer step: the loss summed over its forward_backward calls, the update, and the mean
   * KL from the base model per token over the probing forwards at that step (step 0: before any).
   */
  @Wire
  record Step(
      int step,
      Double loss,
      Double gradNorm,
      Double learningRate,
      long tokens,
      Double klFromBase,
      Instant time) {}

  /** A checkpoint of the run and the optimizer step it holds. */
  @Wire
  record Saved(String tinkerPath, int step, Instant time) {}

  private final JdbcClient jdbc;
  private final Tenants tenants;

  AdminRunsController(JdbcClient jdbc, Tenants tenants) {
    this.jdbc = jdbc;
    this.tenants = tenants;
  }

  @GetMapping("/tenants/{tenantId}/training_runs")
  Map<String, Object> runs(@PathVariable String tenantId) {
    tenants.require(tenantId);
    List<RunRow> runs =
        jdbc.sql(
                "SELECT r.id, r.base_model, r.lora_rank, r.status, r.created_at, r.last_request_at,"
                    + " r.current_step, (SELECT m.loss FROM step_metrics m WHERE m.training_run_id = r.id"
                    + " ORDER BY m.step DESC LIMIT 1) FROM training_runs r WHERE r.tenant_id = ?"
                    + " ORDER BY r.created_at DESC, r.id")
            .param(tenantId)
            .query(
                (rs, n) ->
                    new RunRow(
                        rs.getString(1),
                        rs.getString(2),
                        rs.getInt(3),
                        rs.getString(4),
                        instant(rs, 5),
                        instant(rs, 6),
                        rs.getInt(7),
                        (Double) rs.getObject(8)))
            .list();
    return Map.of("training_runs", runs);
  }

  @GetMapping("/training_runs/{runId}/metrics")
  Map<String, Object> metrics(@PathVariable String runId) {
    String tenant =
        jdbc.sql("SELECT tenant_id FROM training_runs WHERE id = ?")
            .param(runId)
            .query(String.class)
            .optional()
            .orElseThrow(() -> ApiException.notFound("training_run_id", runId));
    List<Step> steps =
        jdbc.sql(
                "SELECT step, loss, grad_norm, learning_rate, tokens, kl_from_base_sum /"
                    + " NULLIF(kl_from_base_tokens, 0), recorded_at FROM step_metrics"
                    + " WHERE training_run_id = ? ORDER BY step")
            .param(runId)
            .query(
                (rs, n) ->
                    new Step(
                        rs.getInt(1),
                        (Double) rs.getObject(2),
                        (Double) rs.getObject(3),
                        (Double) rs.getObject(4),
                        rs.getLong(5),
                        (Double) rs.getObject(6),
                        instant(rs, 7)))
            .list();
    List<Saved> checkpoints =
        jdbc.sql(
                "SELECT kind, name, step, created_at FROM checkpoints WHERE training_run_id = ?"
                    + " ORDER BY step, created_at, kind, name")
            .param(runId)
            .query(
                (rs, n) ->
                    new Saved(
                        new TinkerPath(runId, rs.getString(1), rs.getString(2)).toString(),
                        rs.getInt(3),
                        instant(rs, 4)))
            .list();
    return Map.of(
        "training_run_id", runId, "tenant_id", tenant, "steps", steps, "checkpoints", checkpoints);
  }

  private static Instant instant(ResultSet rs, int column) throws SQLException {
    var t = rs.getTimestamp(column);
    return t == null ? null : t.toInstant();
  }
}
