package dev.lathe.api.checkpoint;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.future.Requests;
import dev.lathe.api.tenant.TenantQuotas;
import dev.lathe.api.training.TrainingRuns;
import dev.lathe.contracts.checkpoint.MergedExportRequest;
import dev.lathe.contracts.checkpoint.TinkerPath;
import dev.lathe.contracts.future.RequestAccepted;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code POST /api/v1/merged_export}, a Lathe extension: queues the merge of one of the tenant's
 * checkpoints into the base model; the future's result is a {@code MergedExportResponse}, and the
 * model downloads from the checkpoint's {@code merged_archive}. It is stored with the checkpoint
 * and counted in its size, so a tenant over its storage quota cannot export.
 */
@RestController
@RequestMapping("/api/v1")
class MergedExportController {

  private final Checkpoints checkpoints;
  private final TrainingRuns runs;
  private final Requests requests;
  private final TenantQuotas quotas;

  MergedExportController(
      Checkpoints checkpoints, TrainingRuns runs, Requests requests, TenantQuotas quotas) {
    this.checkpoints = checkpoints;
    this.runs = runs;
    this.requests = requests;
    this.quotas = quotas;
  }

  @PostMapping("/merged_export")
  RequestAccepted export(Caller caller, @RequestBody MergedExportRequest req) {
    TinkerPath path = checkpoints.requirePath(caller, req.modelPath(), "model_path");
    quotas.allowNewCheckpoint(caller, "model_path");
    TrainingRuns.Run run = runs.require(caller, path.trainingRunId());
    String id =
        requests.enqueue(caller, run.baseModel(), "merged_export", run.id(), null, null, req, null);
    return new RequestAccepted(id, run.id());
  }
}
