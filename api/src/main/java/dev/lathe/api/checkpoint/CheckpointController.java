package dev.lathe.api.checkpoint;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.web.ApiException;
import dev.lathe.api.web.Check;
import dev.lathe.contracts.checkpoint.CheckpointArchiveUrlResponse;
import dev.lathe.contracts.checkpoint.CheckpointStorageUsage;
import dev.lathe.contracts.checkpoint.CheckpointTtlRequest;
import dev.lathe.contracts.checkpoint.CheckpointsListResponse;
import dev.lathe.contracts.checkpoint.Cursor;
import dev.lathe.contracts.checkpoint.MergedExportResponse;
import dev.lathe.contracts.checkpoint.TrainingRun;
import dev.lathe.contracts.checkpoint.TrainingRunsResponse;
import dev.lathe.worker.store.Trees;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.PutMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/**
 * The REST client's view of storage: training runs, checkpoints (list, delete, TTL, publish) and
 * archives of a checkpoint's PEFT files (or of its merged export) behind signed, expiring links.
 */
@RestController
@RequestMapping("/api/v1")
class CheckpointController {

  static final Duration LINK_LIFETIME = Duration.ofMinutes(15);
  static final List<String> ARCHIVED = List.of("adapter_config.json", "adapter_model.safetensors");

  private final Checkpoints checkpoints;
  private final LinkSigner links;

  CheckpointController(Checkpoints checkpoints, LinkSigner links) {
    this.checkpoints = checkpoints;
    this.links = links;
  }

  @GetMapping("/training_runs")
  TrainingRunsResponse runs(
      Caller caller,
      @RequestParam(defaultValue = "20") int limit,
      @RequestParam(defaultValue = "0") int offset) {
    Check.page(limit, offset);
    return new TrainingRunsResponse(
        checkpoints.runs(caller, limit, offset),
        new Cursor(offset, limit, checkpoints.countRuns(caller)));
  }

  @GetMapping("/billing/usage/checkpoints/current")
  CheckpointStorageUsage storage(
      Caller caller, @RequestParam(name = "project_id", required = false) String projectId) {
    return new CheckpointStorageUsage(null, checkpoints.storage(caller, projectId));
  }

  @GetMapping("/training_runs/{runId}")
  TrainingRun run(Caller caller, @PathVariable String runId) {
    return checkpoints
        .run(caller, runId)
        .orElseThrow(() -> ApiException.notFound("training_run_id", runId));
  }

  @GetMapping("/training_runs/{runId}/checkpoints")
  CheckpointsListResponse runCheckpoints(
      Caller caller,
      @PathVariable String runId,
      @RequestParam(defaultValue = "100") int limit,
      @RequestParam(defaultValue = "0") int offset) {
    run(caller, runId);
    Check.page(limit, offset);
    return new CheckpointsListResponse(
        checkpoints.checkpoints(caller, runId, limit, offset),
        new Cursor(offset, limit, checkpoints.countCheckpoints(caller, runId)));
  }

  @GetMapping("/checkpoints")
  CheckpointsListResponse allCheckpoints(
      Caller caller,
      @RequestParam(defaultValue = "100") int limit,
      @RequestParam(defaultValue = "0") int offset) {
    Check.page(limit, offset);
    return new CheckpointsListResponse(
        checkpoints.checkpoints(caller, null, limit, offset),
        new Cursor(offset, limit, checkpoints.countCheckpoints(caller, null)));
  }

  @DeleteMapping("/training_runs/{runId}/checkpoints/{kind}/{name}")
  ResponseEntity<Void> delete(
      Caller caller,
      @PathVariable String runId,
      @PathVariable String kind,
      @PathVariable String name)
      throws IOException {
    checkpoints.delete(checkpoints.require(caller, runId, kind(kind), name));
    return ResponseEntity.noContent().build();
  }

  @PutMapping("/training_runs/{runId}/checkpoints/{kind}/{name}/ttl")
  ResponseEntity<Void> ttl(
      Caller caller,
      @PathVariable String runId,
      @PathVariable String kind,
      @PathVariable String name,
      @RequestBody CheckpointTtlRequest req) {
    Long ttl = req.ttlSeconds();
    Check.ttl(ttl);
    checkpoints.setTtl(checkpoints.require(caller, runId, kind(kind), name), ttl);
    return ResponseEntity.noContent().build();
  }

  @PostMapping("/training_runs/{runId}/checkpoints/{kind}/{name}/publish")
  ResponseEntity<Void> publish(
      Caller caller,
      @PathVariable String runId,
      @PathVariable String kind,
      @PathVariable String name) {
    checkpoints.setPublished(checkpoints.require(caller, runId, kind(kind), name), true);
    return ResponseEntity.noContent().build();
  }

  @DeleteMapping("/training_runs/{runId}/checkpoints/{kind}/{name}/publish")
  ResponseEntity<Void> unpublish(
      Caller caller,
      @PathVariable String runId,
      @PathVariable String kind,
      @PathVariable String name) {
    checkpoints.setPublished(checkpoints.require(caller, runId, kind(kind), name), false);
    return ResponseEntity.noContent().build();
  }

  @GetMapping("/training_runs/{runId}/checkpoints/{kind}/{name}/archive")
  CheckpointArchiveUrlResponse archive(
      Caller caller,
      @PathVariable String runId,
      @PathVariable String kind,
      @PathVariable String name,
      HttpServletRequest req) {
    checkpoints.require(caller, runId, kind(kind), name);
    return link(new LinkSigner.Target(runId, kind, name, expiry()), req);
  }

  /**
   * A link to the checkpoint merged into its base model, once {@code merged_export} wrote it (a
   * Lathe extension): a tar of a plain Hugging Face model directory.
   */
  @GetMapping("/training_runs/{runId}/checkpoints/{kind}/{name}/merged_archive")
  CheckpointArchiveUrlResponse mergedArchive(
      Caller caller,
      @PathVariable String runId,
      @PathVariable String kind,
      @PathVariable String name,
      HttpServletRequest req)
      throws IOException {
    Checkpoints.Stored s = checkpoints.require(caller, runId, kind(kind), name);
    if (merged(s).isEmpty()) {
      throw ApiException.notFound(
          "checkpoint_id",
          kind + "/" + name + " (it has no merged export yet: POST /api/v1/merged_export)");
    }
    return link(new LinkSigner.Target(runId, kind, name, expiry(), true), req);
  }

  private static Instant expiry() {
    return Instant.now().plus(LINK_LIFETIME).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
  }

  private CheckpointArchiveUrlResponse link(LinkSigner.Target t, HttpServletRequest req) {
    String base = req.getScheme() + "://" + req.getServerName() + ":" + req.getServerPort();
    return new CheckpointArchiveUrlResponse(
        base + "/api/v1/archives/" + links.sign(t) + ".tar", t.expires());
  }

  /**
   * The signed link itself: a tar of the checkpoint's PEFT files (or of its merged export), no API
   * key needed.
   */
  @GetMapping("/archives/{token}.tar")
  void download(@PathVariable String token, HttpServletResponse res) throws IOException {
    LinkSigner.Target t =
        links
            .verify(token)
            .orElseThrow(() -> ApiException.notFound("token", "(expired or invalid link)"));
    Checkpoints.Stored s =
        checkpoints
            .find(t.runId(), t.kind(), t.name())
            .orElseThrow(() -> ApiException.notFound("checkpoint_id", t.kind() + "/" + t.name()));
    if (!t.merged()) {
      writeTar(s, t.name(), res);
      return;
    }
    Path dir =
        merged(s)
            .orElseThrow(
                () ->
                    ApiException.notFound("checkpoint_id", t.kind() + "/" + t.name() + "/merged"));
    List<String> files;
    try (var list = Files.list(dir)) {
      files =
          list.filter(Files::isRegularFile).map(f -> f.getFileName().toString()).sorted().toList();
    }
    writeTar(dir, files, t.name() + "-merged", res);
  }

  /** The checkpoint's merged export, if it has one. */
  private static java.util.Optional<Path> merged(Checkpoints.Stored s) throws IOException {
    Path dir = Trees.current(s.files()).orElse(s.files());
    return Trees.current(dir.resolve(MergedExportResponse.DIRECTORY));
  }

  /** The checkpoint's PEFT files as a tar, streamed. */
  static void writeTar(Checkpoints.Stored s, String name, HttpServletResponse res)
      throws IOException {
    writeTar(Trees.current(s.files()).orElse(s.files()), ARCHIVED, name, res);
  }

  private static void writeTar(Path dir, List<String> files, String name, HttpServletResponse res)
      throws IOException {
    res.setContentType("application/x-tar");
    res.setHeader("Content-Disposition", "attachment; filename=\"" + name + ".tar\"");
    try (OutputStream out = res.getOutputStream();
        TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
      tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX); // files over 8 GiB
      for (String file : files) {
        Path p = dir.resolve(file);
        // Name, size and modification time alone: the same files give the same bytes (a reader's
        // access time, which an entry made from the path would carry, does not enter them).
        TarArchiveEntry entry = new TarArchiveEntry(file);
        entry.setSize(Files.size(p));
        entry.setModTime(Files.getLastModifiedTime(p).toMillis() / 1000 * 1000);
        tar.putArchiveEntry(entry);
        Files.copy(p, tar);
        tar.closeArchiveEntry();
      }
    }
  }

  static String kind(String kind) {
    if (!kind.equals("weights") && !kind.equals("sampler_weights")) {
      throw ApiException.badRequest(
          "checkpoint_id", "must start with weights/ or sampler_weights/");
    }
    return kind;
  }
}
