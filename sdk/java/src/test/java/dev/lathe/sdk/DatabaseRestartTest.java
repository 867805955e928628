package dev.lathe.sdk;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.contracts.training.AdamParams;
import dev.lathe.contracts.training.ForwardBackwardOutput;
import dev.lathe.contracts.training.LoraConfig;
import dev.lathe.contracts.training.LossFnType;
import dev.lathe.contracts.training.OptimStepResponse;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * PostgreSQL stopped and started again under a running cluster (an api process and a worker
 * process): requests sent while it is down are retried by the SDK until it is back, the api and the
 * worker reconnect by themselves, and the run ends where a run that saw no outage does.
 */
class DatabaseRestartTest {

  private static final long OUTAGE_MILLIS = 4_000;

  /** A PostgreSQL of this test's own, on a data directory and port it can be started on again. */
  private static EmbeddedPostgres start(Path dir, int port) throws Exception {
    return EmbeddedPostgres.builder()
        .setDataDirectory(dir)
        .setCleanDataDirectory(false)
        .setPort(port)
        .start();
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void theClusterRidesOutADatabaseRestartMidRun() throws Exception {
    Path pgData = Files.createTempDirectory("lathe-pg-restart");
    Path store = Files.createTempDirectory("lathe-pg-restart-store");
    int port = freePort();
    EmbeddedPostgres pg = start(pgData, port);
    Map<String, String> shared =
        Map.of(
            "LATHE_DB_URL", "jdbc:postgresql://127.0.0.1:" + port + "/postgres",
            "LATHE_DB_USER", "postgres",
            "LATHE_DB_PASSWORD", "postgres");
    Map<String, String> api = new HashMap<>(shared);
    api.put("LATHE_ROLE", "api");
    Map<String, String> worker = new HashMap<>(shared);
    worker.put("LATHE_ROLE", "worker");
    try (LatheServer apiProcess = new LatheServer(api, store);
        LatheServer workerProcess = new LatheServer(worker, store);
        ServiceClient service =
            ServiceClient.builder(apiProcess.baseUrl, apiProcess.newApiKey("pg-restart"))
                .maxRetries(12)
                .build()) {
      LoraConfig config = new LoraConfig(8, 5L, true, true, true);
      TrainingClient outage = service.createLoraTrainingClient("lathe-tiny", config).join();
      TrainingClient calm = service.createLoraTrainingClient("lathe-tiny", config).join();
      List<Double> losses = new ArrayList<>(ClusterModeTest.steps(outage, 2));
      List<Double> reference = new ArrayList<>(ClusterModeTest.steps(calm, 6));

      pg.close(); // a fast shutdown: sessions cut, the api's and the worker's connections broken
      CompletableFuture<EmbeddedPostgres> restarted =
          CompletableFuture.supplyAsync(
              () -> {
                try {
                  Thread.sleep(OUTAGE_MILLIS);
                  return start(pgData, port);
                } catch (Exception e) {
                  throw new IllegalStateException(e);
                }
              });
      // Sent while the database is down (the SDK sends a run's requests in order: the second
      // call returns once the first is accepted).
      CompletableFuture<ForwardBackwardOutput> fb =
          outage.forwardBackward(
              List.of(ClusterModeTest.datum("the cluster keeps going")),
              LossFnType.CROSS_ENTROPY,
              null);
      CompletableFuture<OptimStepResponse> opt = outage.optimStep(AdamParams.ofLearningRate(1e-2));
      pg = restarted.get(120, TimeUnit.SECONDS);

      losses.add(fb.get(120, TimeUnit.SECONDS).metrics().get("loss:sum"));
      assertThat(opt.get(120, TimeUnit.SECONDS).metrics().get("step:max")).isEqualTo(3.0);
      losses.addAll(ClusterModeTest.steps(outage, 3));
      assertThat(losses).containsExactlyElementsOf(reference); // nothing lost, nothing twice
      assertThat(workerProcess.getJson("/actuator/health/readiness").path("status").asString())
          .isEqualTo("UP");
      assertThat(apiProcess.getJson("/actuator/health/readiness").path("status").asString())
          .isEqualTo("UP");
      assertThat(apiProcess.log()).contains("database unavailable"); // the outage was seen
    } finally {
      pg.close();
    }
  }
}
