package dev.lathe.sdk;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.contracts.model.Datum;
import dev.lathe.contracts.training.AdamParams;
import dev.lathe.contracts.training.ForwardBackwardOutput;
import dev.lathe.contracts.training.LoraConfig;
import dev.lathe.contracts.training.LossFnType;
import dev.lathe.contracts.training.OptimStepResponse;
import dev.lathe.testing.TestDatabase;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * Cluster mode: an {@code api} process and a {@code worker} process from the same jar against one
 * PostgreSQL and one adapter store. The worker is killed in the middle of a run; a new worker
 * process finishes it, and the run ends where an uninterrupted run does.
 */
class ClusterModeTest {

  static Datum datum(String text) {
    return JavaSdkTest.datum(text);
  }

  @Test
  void apiAndWorkerProcessesTrainTogetherAndSurviveAWorkerCrash() throws Exception {
    DataSource db = TestDatabase.emptyDatabase();
    TestDatabase.Server pg = TestDatabase.server();
    Map<String, String> shared =
        Map.of(
            "LATHE_DB_URL", TestDatabase.jdbcUrl(db),
            "LATHE_DB_USER", pg.user(),
            "LATHE_DB_PASSWORD", pg.password());
    Path store = Files.createTempDirectory("lathe-cluster");
    Map<String, String> api = new java.util.HashMap<>(shared);
    api.put("LATHE_ROLE", "api");
    Map<String, String> worker = new java.util.HashMap<>(shared);
    worker.put("LATHE_ROLE", "worker");

    try (LatheServer apiProcess = new LatheServer(api, store)) {
      assertThat(apiProcess.getJson("/actuator/health/readiness").path("status").asString())
          .isEqualTo("UP");
      String key = apiProcess.newApiKey("cluster");
      LatheServer first = new LatheServer(worker, store);
      List<Double> losses;
      List<Double> reference;
      try (ServiceClient service = ServiceClient.builder(apiProcess.baseUrl, key).build()) {
        LoraConfig config = new LoraConfig(8, 5L, true, true, true);
        TrainingClient crashed = service.createLoraTrainingClient("lathe-tiny", config).join();
        TrainingClient calm = service.createLoraTrainingClient("lathe-tiny", config).join();
        JdbcTemplate jdbc = new JdbcTemplate(db);
        // The worker serves health and metrics, not the REST API.
        assertThat(first.getJson("/actuator/health/readiness").path("status").asString())
            .isEqualTo("UP");
        assertThat(first.getJson("/api/v1/get_server_capabilities").path("status").asInt())
            .isEqualTo(404);
        assertThat(
                jdbc.queryForObject(
                    "SELECT count(*) FROM worker_leases WHERE expires_at > now()", Integer.class))
            .isEqualTo(1);

        losses = new ArrayList<>(steps(crashed, 3));
        reference = new ArrayList<>(steps(calm, 3));
        // A forward_backward whose gradient lives only in the worker's memory, then a crash.
        crashed
            .forwardBackward(
                List.of(datum("the cluster keeps going")), LossFnType.CROSS_ENTROPY, null)
            .join();
        first.kill();
        CompletableFuture<OptimStepResponse> pending =
            crashed.optimStep(AdamParams.ofLearningRate(1e-2));
        try (LatheServer second = new LatheServer(worker, store)) {
          assertThat(pending.join().metrics().get("step:max")).isEqualTo(4.0);
          calm.forwardBackward(
                  List.of(datum("the cluster keeps going")), LossFnType.CROSS_ENTROPY, null)
              .join();
          calm.optimStep(AdamParams.ofLearningRate(1e-2)).join();
          losses.addAll(steps(crashed, 2));
          reference.addAll(steps(calm, 2));
        }
      }
      assertThat(losses).containsExactlyElementsOf(reference);
      assertThat(losses.getLast()).isLessThan(losses.getFirst());
    }
  }

  /** {@code n} steps of forward_backward + optim_step; the loss of each. */
  static List<Double> steps(TrainingClient t, int n) {
    List<Double> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ForwardBackwardOutput fb =
          t.forwardBackward(
                  List.of(datum("the cluster keeps going")), LossFnType.CROSS_ENTROPY, null)
              .join();
      t.optimStep(AdamParams.ofLearningRate(1e-2)).join();
      out.add(fb.metrics().get("loss:sum"));
    }
    return out;
  }
}
