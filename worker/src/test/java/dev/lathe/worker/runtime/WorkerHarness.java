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
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * A worker on lathe-tiny against a real PostgreSQL, with requests queued as the api queues them.
 */
abstract class WorkerHarness extends WithTinyModel {

  @TempDir Path storage;
  DataSource ds = TestDatabase.migratedDatabase();
  JdbcTemplate jdbc = new JdbcTemplate(ds);

  final io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
      new io.micrometer.core.instrument.simple.SimpleMeterRegistry();

  Worker worker() {
    return worker(Worker.Settings.of("w-" + UUID.randomUUID(), storage));
  }

  Worker worker(Worker.Settings settings) {
    return worker(settings, id -> {});
  }

  /** A worker that tells {@code onFinished} each request id it finishes, on its own thread. */
  Worker worker(Worker.Settings settings, java.util.function.Consumer<String> onFinished) {
    return new Worker(ds, base, manager, settings, registry, onFinished).start();
  }

  String run(String id) {
    return run("tnt", id, 8);
  }

  /** A training run of {@code tenant} with its create_model request queued as seq_id 0. */
  String run(String tenant, String id, int rank) {
    return run(tenant, id, rank, false);
  }

  /** As {@link #run(String, String, int)}, a DoRA adapter if {@code dora}. */
  String run(String tenant, String id, int rank, boolean dora) {
    jdbc.update(
        "INSERT INTO tenants (id, name) VALUES (?, ?) ON CONFLICT DO NOTHING", tenant, tenant);
    jdbc.update(
        "INSERT INTO sessions (id, tenant_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        "s-" + tenant,
        tenant);
    String config = "{\"rank\": " + rank + ", \"use_dora\": " + dora + "}";
    jdbc.update(
        "INSERT INTO training_runs (id, tenant_id, session_id, base_model, lora_rank, lora_config, lora_seed)"
            + " VALUES (?, ?, ?, 'lathe-tiny', ?, ?::jsonb, 7)",
        id,
        tenant,
        "s-" + tenant,
        rank,
        config);
    enqueue(id, 0, "create_model", Map.of("model_id", id));
    return id;
  }

  void enqueue(String model, int seq, String kind, Object body) {
    String json = WireJson.mapper().writeValueAsString(body);
    jdbc.update(
        "INSERT INTO requests (id, tenant_id, base_model, model_id, seq_id, kind, body, body_sha256)"
            + " VALUES (?, (SELECT tenant_id FROM training_runs WHERE id = ?), 'lathe-tiny', ?, ?, ?,"
            + " ?::jsonb, sha256(?::bytea))",
        model + "/" + seq,
        model,
        model,
        seq,
        kind,
        json,
        json.getBytes());
  }

  /** Odd seq_ids: a forward_backward on a short text; even: an optim_step. */
  void step(String model, int seq) {
    step(model, seq, "step " + seq + " of lathe");
  }

  void step(String model, int seq, String text) {
    if (seq % 2 == 1) {
      forwardBackward(model, seq, text);
    } else {
      optimStep(model, seq);
    }
  }

  /** A cross-entropy forward_backward that teaches the text. */
  void forwardBackward(String model, int seq, String text) {
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
  }

  void optimStep(String model, int seq) {
    enqueue(
        model,
        seq,
        "optim_step",
        new OptimStepRequest(AdamParams.ofLearningRate(1e-2), model, seq));
  }

  /** A finished request's result. */
  tools.jackson.databind.JsonNode result(String model, int seq) {
    return WireJson.mapper()
        .readTree(
            jdbc.queryForObject(
                "SELECT result::text FROM requests WHERE id = ?", String.class, model + "/" + seq));
  }

  void awaitDone(String model, int seq) throws InterruptedException {
    for (int i = 0; i < 600; i++) {
      List<String> rows =
          jdbc.queryForList(
              "SELECT status FROM requests WHERE id = ?", String.class, model + "/" + seq);
      String status = rows.isEmpty() ? "not queued yet" : rows.getFirst();
      if (status.equals("done")) {
        return;
      }
      if (status.equals("failed")) {
        throw new AssertionError(
            model
                + "/"
                + seq
                + " failed: "
                + jdbc.queryForObject(
                    "SELECT error FROM requests WHERE id = ?", String.class, model + "/" + seq));
      }
      Thread.sleep(50);
    }
    throw new AssertionError(model + "/" + seq + " did not finish");
  }

  Map<String, float[]> adapter(String model) throws Exception {
    String tenant =
        jdbc.queryForObject(
            "SELECT tenant_id FROM training_runs WHERE id = ?", String.class, model);
    Path dir = storage.resolve(tenant).resolve(Executor.safe(model)).resolve("live");
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
}
