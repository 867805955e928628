package dev.lathe.sdk;

import dev.lathe.contracts.checkpoint.CheckpointArchiveUrlResponse;
import dev.lathe.contracts.checkpoint.CheckpointTtlRequest;
import dev.lathe.contracts.checkpoint.CheckpointsListResponse;
import dev.lathe.contracts.checkpoint.MergedExportRequest;
import dev.lathe.contracts.checkpoint.MergedExportResponse;
import dev.lathe.contracts.checkpoint.TinkerPath;
import dev.lathe.contracts.checkpoint.TrainingRun;
import dev.lathe.contracts.checkpoint.TrainingRunsResponse;
import dev.lathe.contracts.future.RequestAccepted;
import java.net.URI;
import java.util.concurrent.CompletableFuture;

/** Training runs and checkpoints of the caller's tenant. */
public final class RestClient {

  private final Transport transport;

  RestClient(Transport transport) {
    this.transport = transport;
  }

  /** A page of training runs, newest first. */
  public CompletableFuture<TrainingRunsResponse> trainingRuns(int limit, int offset) {
    return transport.call(
        "GET",
        "api/v1/training_runs?limit=" + limit + "&offset=" + offset,
        null,
        TrainingRunsResponse.class);
  }

  public CompletableFuture<TrainingRun> trainingRun(String runId) {
    return transport.call(
        "GET", "api/v1/training_runs/" + Transport.segment(runId), null, TrainingRun.class);
  }

  public CompletableFuture<CheckpointsListResponse> checkpoints(String runId) {
    return transport.call(
        "GET",
        "api/v1/training_runs/" + Transport.segment(runId) + "/checkpoints",
        null,
        CheckpointsListResponse.class);
  }

  /** Deletes a checkpoint ({@code tinker://run/kind/name}). */
  public CompletableFuture<Void> deleteCheckpoint(String path) {
    return transport.call("DELETE", checkpoint(path), null).thenApply(x -> null);
  }

  /** Sets a checkpoint's time to live; null keeps it until deleted. */
  public CompletableFuture<Void> setTtl(String path, Long ttlSeconds) {
    return transport
        .call("PUT", checkpoint(path) + "/ttl", new CheckpointTtlRequest(ttlSeconds))
        .thenApply(x -> null);
  }

  public CompletableFuture<Void> publish(String path) {
    return transport.call("POST", checkpoint(path) + "/publish", null).thenApply(x -> null);
  }

  public CompletableFuture<Void> unpublish(String path) {
    return transport.call("DELETE", checkpoint(path) + "/publish", null).thenApply(x -> null);
  }

  /** A tar of the checkpoint's PEFT files. */
  public CompletableFuture<byte[]> downloadArchive(String path) {
    return download(checkpoint(path) + "/archive");
  }

  /**
   * Merges the checkpoint into its base model (a Lathe extension); the merged model is kept with
   * the checkpoint, its bytes counted in the checkpoint's size, until the checkpoint goes.
   */
  public CompletableFuture<MergedExportResponse> mergedExport(String path) {
    checkpoint(path); // checked before sending
    return transport
        .call("POST", "api/v1/merged_export", new MergedExportRequest(path), RequestAccepted.class)
        .thenCompose(a -> transport.result(a.requestId(), MergedExportResponse.class));
  }

  /**
   * A tar of the checkpoint's merged export: a plain Hugging Face model directory ({@code
   * config.json}, {@code model.safetensors}, the tokenizer's files).
   */
  public CompletableFuture<byte[]> downloadMergedArchive(String path) {
    return download(checkpoint(path) + "/merged_archive");
  }

  private CompletableFuture<byte[]> download(String link) {
    return transport
        .call("GET", link, null, CheckpointArchiveUrlResponse.class)
        .thenApplyAsync(r -> transport.get(URI.create(r.url())));
  }

  private static String checkpoint(String path) {
    TinkerPath p = TinkerPath.parse(path);
    return "api/v1/training_runs/"
        + Transport.segment(p.trainingRunId())
        + "/checkpoints/"
        + Transport.segment(p.kind())
        + "/"
        + Transport.segment(p.name());
  }
}
