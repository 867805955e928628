package dev.lathe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.types.DataType;
import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.model.Datum;
import dev.lathe.contracts.model.ModelInput;
import dev.lathe.contracts.model.TensorData;
import dev.lathe.contracts.training.AdamParams;
import dev.lathe.contracts.training.ForwardBackwardInput;
import dev.lathe.contracts.training.ForwardBackwardRequest;
import dev.lathe.contracts.training.LossFnType;
import dev.lathe.contracts.training.OptimStepRequest;
import dev.lathe.testing.TestDatabase;
import dev.lathe.worker.WithTinyModel;
import dev.lathe.worker.store.Safetensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * Crash safety: a worker stopped between steps, or after a forward_backward whose gradient lived
 * only in its memory, or after a step's snapshot but before the step was marked done, is replaced
 * by a new worker that finishes the run; the adapter ends exactly as an uninterrupted run's, and no
 * step is applied twice.
 */
class WorkerRecoveryTest extends WithTinyModel {

  @TempDir Path storage;
  DataSource ds = TestDatabase.migratedDatabase();
  JdbcTemplate jdbc = new JdbcTemplate(ds);

  Worker worker() {
    return new Worker(
            ds,
            base,
            manager,
            new Worker.Settings("w-" + UUID.randomUUID(), storage, Duration.ofSeconds(30), 16),
            id -> {})
        .start();
  }

  String run(String id) {
    jdbc.update(
        "INSERT INTO tenants (id, name) VALUES (?, ?) ON CONFLICT DO NOTHING", "tnt", "tnt");
    jdbc.update(
        "INSERT INTO sessions (id, tenant_id) VALUES (?, 'tnt') ON CONFLICT DO NOTHING", "s");
    jdbc.update(
        "INSERT INTO training_runs (id, tenant_id, session_id, base_model, lora_rank, lora_config, lora_seed)"
            + " VALUES (?, 'tnt', 's', 'lathe-tiny', 8, '{\"rank\": 8}', 7)",
        id);
    enqueue(id, 0, "create_model", Map.of("model_id", id));
    return id;
  }

  void enqueue(String model, int seq, String kind, Object body) {
    String json = WireJson.mapper().writeValueAsString(body);
    jdbc.update(
        "INSERT INTO requests (id, tenant_id, base_model, model_id, seq_id, kind, body, body_sha256)"
            + " VALUES (?, 'tnt', 'lathe-tiny', ?, ?, ?, ?::jsonb, sha256(?::bytea))",
        model + "/" + seq,
        model,
        seq,
        kind,
        json,
        json.getBytes());
  }

  void step(String model, int seq) {
    if (seq % 2 == 1) {
      String text = "step " + seq + " of lathe";
      int[] tokens = text.chars().limit(text.length() - 1).toArray();
      long[] targets = text.chars().skip(1).asLongStream().toArray();
      enqueue(
          model,
          seq,
          "forward_backward",
          new ForwardBackwardRequest(
              new ForwardBackwardInput(
                  List.of(
                      new Datum(
                          ModelInput.ofTokens(tokens),
                          Map.of("target_tokens", TensorData.ofLongs(targets)))),
                  LossFnType.CROSS_ENTROPY,
                  null),
              model,
              seq));
    } else {
      enqueue(
          model,
          seq,
          "optim_step",
          new OptimStepRequest(AdamParams.ofLearningRate(1e-2), model, seq));
    }
  }

  void awaitDone(String model, int seq) throws InterruptedException {
    for (int i = 0; i < 600; i++) {
      String status =
          jdbc.queryForObject(
              "SELECT status FROM requests WHERE id = ?", String.class, model + "/" + seq);
      if (status.equals("done")) {
        return;
      }
      assertThat(status)
          .as(
              jdbc.queryForObject(
                  "SELECT coalesce(error, '') FROM requests WHERE id = ?",
                  String.class,
                  model + "/" + seq))
          .isNotEqualTo("failed");
      Thread.sleep(50);
    }
    throw new AssertionError(model + "/" + seq + " did not finish");
  }

  Map<String, float[]> adapter(String model) throws Exception {
    Path dir = storage.resolve("tnt").resolve(Executor.safe(model)).resolve("live");
    Safetensors.File f = Safetensors.open(dir.resolve("adapter_model.safetensors"));
    Map<String, float[]> out = new java.util.TreeMap<>();
    for (String name : f.entries().keySet()) {
      out.put(name, f.load(manager, name, DataType.FLOAT32).toFloatArray());
    }
    return out;
  }

  /** Tensors that differ, with their largest difference. */
  static Map<String, Double> differences(Map<String, float[]> a, Map<String, float[]> b) {
    assertThat(a.keySet()).isEqualTo(b.keySet());
    Map<String, Double> out = new java.util.TreeMap<>();
    for (String name : a.keySet()) {
      double max = 0;
      for (int i = 0; i < a.get(name).length; i++) {
        max = Math.max(max, Math.abs(a.get(name)[i] - b.get(name)[i]));
      }
      if (max > 0) {
        out.put(name, max);
      }
    }
    return out;
  }

  @Test
  void aReplacedWorkerFinishesTheRunExactlyAsOneWithoutCrashes() throws Exception {
    String reference = run("ref:train:0");
    try (Worker w = worker()) {
      for (int seq = 1; seq <= 6; seq++) {
        step(reference, seq);
      }
      awaitDone(reference, 6);
    }

    String model = run("crash:train:0");
    try (Worker first = worker()) {
      for (int seq = 1; seq <= 3; seq++) {
        step(model, seq);
      }
      awaitDone(model, 3); // a step done, and a gradient that lives only in this worker's memory
    }
    try (Worker second = worker()) {
      for (int seq = 4; seq <= 6; seq++) {
        step(model, seq);
      }
      awaitDone(model, 6);
    }
    assertThat(differences(adapter(model), adapter(reference))).isEmpty();

    // The last step ran and was snapshotted, but its worker died before marking it done.
    String result =
        jdbc.queryForObject(
            "SELECT result::text FROM requests WHERE id = ?", String.class, model + "/6");
    jdbc.update(
        "UPDATE requests SET status = 'running', result = NULL, finished_at = NULL, worker_id = 'gone'"
            + " WHERE id = ?",
        model + "/6");
    // The run's progress is written in the same transaction as "done", so it rolled back too.
    jdbc.update("UPDATE training_runs SET last_seq_id = 5 WHERE id = ?", model);
    try (Worker third = worker()) {
      awaitDone(model, 6);
    }
    assertThat(
            jdbc.queryForObject(
                "SELECT result::text FROM requests WHERE id = ?", String.class, model + "/6"))
        .isEqualTo(result);
    assertThat(adapter(model))
        .as("the step was not applied twice")
        .containsExactlyEntriesOf(adapter(reference));
    assertThat(
            jdbc.queryForObject(
                "SELECT max(attempts) FROM requests WHERE id = ?", Integer.class, model + "/6"))
        .isEqualTo(2);
    assertThat(Files.exists(storage)).isTrue();
  }
}
