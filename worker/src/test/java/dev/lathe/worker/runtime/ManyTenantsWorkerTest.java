package dev.lathe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.worker.cache.AdapterCache;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * One worker, many tenants: their forward_backward requests share fused batches, and adapters that
 * leave device memory (to host memory or to disk, with their optimizer state and a gradient
 * accumulated mid-step) come back exactly as they left.
 */
class ManyTenantsWorkerTest extends WorkerHarness {

  private static final int[] RANKS = {4, 8, 8, 16, 4};

  Worker.Settings settings(int slots, int hostSlots) {
    return new Worker.Settings(
        "w-" + UUID.randomUUID(),
        storage,
        Duration.ofSeconds(30),
        16,
        slots,
        hostSlots,
        8192,
        Duration.ofMinutes(10));
  }

  List<String> runs(String prefix) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < RANKS.length; i++) {
      out.add(run("tenant-" + i, prefix + ":" + i, RANKS[i]));
    }
    return out;
  }

  /**
   * Five adapters trained in rotation, each request alone so both workers compute the same batches:
   * two forward_backward per step, so gradients wait in host memory and on disk between them.
   */
  void trainInRotation(List<String> runs) throws InterruptedException {
    for (String r : runs) {
      awaitDone(r, 0);
    }
    int seq = 1;
    for (int round = 0; round < 2; round++) {
      for (int part = 0; part < 3; part++) {
        for (int i = 0; i < runs.size(); i++) {
          String r = runs.get(i);
          if (part < 2) {
            forwardBackward(r, seq, "tenant " + i + " round " + round + " part " + part);
          } else {
            optimStep(r, seq);
          }
          awaitDone(r, seq);
        }
        seq++;
      }
    }
  }

  @Test
  void fiveAdaptersThroughTwoSlotsEndAsWithFiveSlots() throws Exception {
    List<String> roomy = runs("roomy");
    try (Worker w = worker(settings(5, 5))) {
      trainInRotation(roomy);
      assertThat(w.stats().adapters().evictions()).isZero();
    }
    List<String> tight = runs("tight");
    AdapterCache.Stats cache;
    try (Worker w = worker(settings(2, 1))) {
      trainInRotation(tight);
      cache = w.stats().adapters();
    }
    assertThat(cache.evictions()).as("evictions").isGreaterThan(10);
    assertThat(cache.hostHits()).as("swapped in from host memory").isPositive();
    assertThat(cache.spills()).as("spilled to disk").isPositive();
    assertThat(cache.misses()).as("swapped in from disk").isPositive();
    for (int i = 0; i < RANKS.length; i++) {
      assertThat(differences(adapter(tight.get(i)), adapter(roomy.get(i))))
          .as("adapter %d", i)
          .isEmpty();
      for (int seq = 1; seq <= 6; seq++) {
        assertThat(result(tight.get(i), seq)).isEqualTo(result(roomy.get(i), seq));
      }
    }
  }

  @Test
  void requestsOfManyTenantsShareOneFusedBatch() throws Exception {
    List<String> alone = runs("alone");
    try (Worker w = worker(settings(8, 8))) {
      for (int i = 0; i < alone.size(); i++) {
        awaitDone(alone.get(i), 0);
        forwardBackward(alone.get(i), 1, "tenant " + i + " says hello");
        awaitDone(alone.get(i), 1);
      }
    }
    List<String> together = runs("together");
    try (Worker w = worker(settings(8, 8))) {
      for (String r : together) {
        awaitDone(r, 0);
      }
    }
    // Queued while no worker runs: the next one claims them together and runs one cycle.
    for (int i = 0; i < together.size(); i++) {
      forwardBackward(together.get(i), 1, "tenant " + i + " says hello");
    }
    Worker.Stats stats;
    try (Worker w = worker(settings(8, 8))) {
      for (String r : together) {
        awaitDone(r, 1);
      }
      stats = w.stats();
    }
    assertThat(stats.cycles()).isEqualTo(1);
    assertThat(stats.lastFusedRequests()).isEqualTo(5);
    for (int i = 0; i < alone.size(); i++) {
      double fused = result(together.get(i), 1).path("metrics").path("loss:sum").asDouble();
      double single = result(alone.get(i), 1).path("metrics").path("loss:sum").asDouble();
      assertThat(fused).isCloseTo(single, Offset.offset(1e-5));
    }
  }

  @Test
  void aSilentSessionsAdapterIsSavedUnloadedAndComesBackIntact() throws Exception {
    String reference = run("tenant-ref", "ref:0", 8);
    try (Worker w = worker()) {
      forwardBackward(reference, 1, "silent sessions lose nothing");
      optimStep(reference, 2);
      awaitDone(reference, 2);
    }
    String model = run("tenant-quiet", "quiet:0", 8);
    Worker.Settings quick =
        new Worker.Settings(
            "w-" + UUID.randomUUID(),
            storage,
            Duration.ofSeconds(30),
            16,
            4,
            4,
            8192,
            Duration.ofSeconds(1));
    try (Worker w = worker(quick)) {
      forwardBackward(model, 1, "silent sessions lose nothing");
      awaitDone(model, 1);
      // The session falls silent with a gradient accumulated and no step taken yet.
      jdbc.update(
          "UPDATE sessions SET last_heartbeat_at = now() - interval '1 hour' WHERE tenant_id = 'tenant-quiet'");
      for (int i = 0; i < 200 && !"unloaded".equals(status(model)); i++) {
        Thread.sleep(50);
      }
      assertThat(status(model)).isEqualTo("unloaded");
      assertThat(w.stats().adapters().resident()).isZero();
      jdbc.update("UPDATE sessions SET last_heartbeat_at = now() WHERE tenant_id = 'tenant-quiet'");
      optimStep(model, 2);
      awaitDone(model, 2);
      assertThat(status(model)).isEqualTo("active");
    }
    assertThat(differences(adapter(model), adapter(reference))).isEmpty();
  }

  String status(String model) {
    return jdbc.queryForObject(
        "SELECT status FROM training_runs WHERE id = ?", String.class, model);
  }
}
