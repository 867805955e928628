package dev.lathe.api.checkpoint;

import dev.lathe.api.auth.Caller;
import dev.lathe.api.tenant.Tenants;
import dev.lathe.contracts.Wire;
import dev.lathe.contracts.checkpoint.Checkpoint;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/** A tenant's adapter storage for operators: list, download, delete, delete what expired. */
@RestController
@RequestMapping("/admin/v1/tenants/{tenantId}/checkpoints")
class AdminStorageController {

  /** A checkpoint as the dashboard shows it. */
  @Wire
  record Row(Checkpoint checkpoint, boolean inUse) {}

  private final Checkpoints checkpoints;
  private final Tenants tenants;

  AdminStorageController(Checkpoints checkpoints, Tenants tenants) {
    this.checkpoints = checkpoints;
    this.tenants = tenants;
  }

  @GetMapping
  Map<String, Object> list(@PathVariable String tenantId) {
    Caller c = tenants.as(tenantId);
    List<Checkpoint> all = checkpoints.checkpoints(c, null, 10_000, 0);
    Set<String> inUse = checkpoints.inUse(all);
    List<Row> rows = new ArrayList<>();
    for (Checkpoint cp : all) {
      rows.add(new Row(cp, inUse.contains(cp.tinkerPath())));
    }
    long bytes = rows.stream().mapToLong(r -> r.checkpoint().sizeBytes()).sum();
    return Map.of("checkpoints", rows, "total_bytes", bytes);
  }

  @GetMapping("/{runId}/{kind}/{name}/archive")
  void download(
      @PathVariable String tenantId,
      @PathVariable String runId,
      @PathVariable String kind,
      @PathVariable String name,
      HttpServletResponse res)
      throws IOException {
    Checkpoints.Stored s =
        checkpoints.require(tenants.as(tenantId), runId, CheckpointController.kind(kind), name);
    CheckpointController.writeTar(s, name, res);
  }

  @DeleteMapping("/{runId}/{kind}/{name}")
  ResponseEntity<Void> delete(
      @PathVariable String tenantId,
      @PathVariable String runId,
      @PathVariable String kind,
      @PathVariable String name)
      throws IOException {
    Caller c = tenants.as(tenantId);
    checkpoints.delete(checkpoints.require(c, runId, CheckpointController.kind(kind), name));
    return ResponseEntity.noContent().build();
  }

  /** Deletes every expired checkpoint that no sampling session uses; says what it did. */
  @PostMapping("/delete_expired")
  Map<String, Object> deleteExpired(@PathVariable String tenantId) throws IOException {
    Caller c = tenants.as(tenantId);
    List<String> deleted = new ArrayList<>();
    List<String> kept = new ArrayList<>();
    List<Checkpoints.Stored> expired = checkpoints.expired(c);
    Set<String> inUse =
        checkpoints.inUse(expired.stream().map(Checkpoints.Stored::checkpoint).toList());
    for (Checkpoints.Stored s : expired) {
      if (inUse.contains(s.checkpoint().tinkerPath())) {
        kept.add(s.checkpoint().tinkerPath());
      } else {
        checkpoints.delete(s);
        deleted.add(s.checkpoint().tinkerPath());
      }
    }
    return Map.of("deleted", deleted, "kept_in_use", kept);
  }
}
