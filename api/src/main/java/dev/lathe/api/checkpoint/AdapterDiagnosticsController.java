package dev.lathe.api.checkpoint;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.future.Requests;
import dev.lathe.api.tenant.Tenants;
import dev.lathe.api.training.TrainingRuns;
import dev.lathe.api.web.ApiException;
import dev.lathe.api.web.Check;
import dev.lathe.contracts.diagnostics.AdapterDiagnosticsRequest;
import dev.lathe.contracts.future.RequestAccepted;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code POST /api/v1/adapter_diagnostics}, a Lathe extension: queues the spectral diagnostics of
 * one of the tenant's checkpoints or runs; the future's result is an {@code
 * AdapterDiagnosticsResponse}. Operators queue the same for a tenant (the dashboard's run page).
 */
@RestController
class AdapterDiagnosticsController {

  static final int MAX_TOP_K = 64;

  private final Checkpoints checkpoints;
  private final TrainingRuns runs;
  private final Requests requests;
  private final Tenants tenants;

  AdapterDiagnosticsController(
      Checkpoints checkpoints, TrainingRuns runs, Requests requests, Tenants tenants) {
    this.checkpoints = checkpoints;
    this.runs = runs;
    this.requests = requests;
    this.tenants = tenants;
  }

  @PostMapping("/admin/v1/tenants/{tenantId}/adapter_diagnostics")
  RequestAccepted forTenant(
      @PathVariable String tenantId, @RequestBody AdapterDiagnosticsRequest req) {
    return diagnostics(tenants.as(tenantId), req);
  }

  @PostMapping("/api/v1/adapter_diagnostics")
  RequestAccepted diagnostics(Caller caller, @RequestBody AdapterDiagnosticsRequest req) {
    if ((req.modelPath() == null) == (req.modelId() == null)) {
      throw ApiException.badRequest("model_path", "give exactly one of model_path and model_id");
    }
    if (req.topK() != null) {
      Check.range(req.topK(), 1, MAX_TOP_K, "top_k");
    }
    if (req.intruderThreshold() != null) {
      double t = Check.finite(req.intruderThreshold(), "intruder_threshold");
      if (t <= 0 || t > 1) {
        throw ApiException.badRequest("intruder_threshold", "must be in (0, 1], got " + t);
      }
    }
    String runId = req.modelId();
    if (req.modelPath() != null) {
      runId = checkpoints.requirePath(caller, req.modelPath(), "model_path").trainingRunId();
    }
    TrainingRuns.Run run = runs.require(caller, runId);
    String id =
        requests.enqueue(
            caller, run.baseModel(), "adapter_diagnostics", run.id(), null, null, req, null);
    return new RequestAccepted(id, run.id());
  }
}
