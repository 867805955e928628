package dev.lathe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.worker.cache.AdapterCache;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
    return settings(slots, hostSlots, Duration.ofMinutes(10), 4L << 30);
  }

  Worker.Settings settings(
      int slots, int hostSlots, Duration sessionTimeout, long decodeCacheBytes) {
    return new Worker.Settings(
        "w-" + UUID.randomUUID(),
        storage,
        Duration.ofSeconds(30),
        16,
        slots,
        hostSlots,
        8192,
        sessionTimeout,
        64,
        decodeCacheBytes,
        Duration.ofHours(1));
  }

  List<String> runs(String prefix) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < RANKS.length; i++) {
      out.add(run("tenant-" + i, prefix + ":" + i, RANKS[i], i % 3 == 1)); // 1 and 4: DoRA
    }
    return out;
  }

  /**
   * Five adapters (two DoRA) trained in rotation, each request alone so both workers compute the
   * same batches: two forward_backward per step, so gradients wait in host memory and on disk
   * between them.
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

  /**
   * Clients send optim_step as soon as their forward_backward is done; here each is sent the moment
   * the worker reports the result. They arrive during the cycle, and the cycle's optimizer phase
   * takes them all: one cycle for the whole step of every tenant, its results and step metrics
   * written with it.
   */
  @Test
  void optimStepsSentOnTheirForwardBackwardResultsJoinTheSameCycle() throws Exception {
    List<String> runs = runs("react");
    try (Worker w = worker(settings(8, 8))) {
      for (String r : runs) {
        awaitDone(r, 0);
      }
    }
    for (int i = 0; i < runs.size(); i++) {
      forwardBackward(runs.get(i), 1, "tenant " + i + " reacts");
    }
    Worker.Stats stats;
    java.util.function.Consumer<String> client =
        id -> {
          if (id.endsWith("/1")) {
            optimStep(id.substring(0, id.length() - 2), 2);
          }
        };
    try (Worker w = worker(settings(8, 8), client)) {
      for (String r : runs) {
        awaitDone(r, 2);
      }
      stats = w.stats();
    }
    assertThat(stats.cycles()).as("cycles").isEqualTo(1);
    assertThat(stats.lastFusedRequests()).isEqualTo(runs.size());
    for (String r : runs) {
      assertThat(result(r, 2).path("metrics").path("step:max").asDouble()).isEqualTo(1.0);
      assertThat(
              jdbc.queryForObject(
                  "SELECT current_step FROM training_runs WHERE id = ?", Integer.class, r))
          .isEqualTo(1);
      assertThat(
              jdbc.queryForObject(
                  "SELECT loss FROM step_metrics WHERE training_run_id = ? AND step = 1",
                  Double.class,
                  r))
          .isCloseTo(result(r, 1).path("metrics").path("loss:sum").asDouble(), Offset.offset(1e-9));
    }
  }

  /**
   * Clients that send their next step (forward_backward and optim_step) a few milliseconds apart
   * once they have their last result, each queued request signalled with its run as the api in this
   * process signals it: the worker waits for the runs that just stepped and claims what arrived
   * once, not once per arrival (a claim per signal was a database round trip per tenant per cycle).
   */
  @Test
  void nextStepsArrivingApartAreClaimedOnceACycle() throws Exception {
    List<String> runs = runs("burst");
    int steps = 6;
    var clients = java.util.concurrent.Executors.newScheduledThreadPool(runs.size());
    var worker = new java.util.concurrent.atomic.AtomicReference<Worker>();
    java.util.function.Consumer<String> onFinished =
        id -> {
          int slash = id.lastIndexOf('/');
          String run = id.substring(0, slash);
          int seq = Integer.parseInt(id.substring(slash + 1));
          int i = runs.indexOf(run);
          if (seq % 2 == 1 || seq >= 2 * steps || i < 0) {
            return;
          }
          Runnable next =
              () -> {
                forwardBackward(run, seq + 1, "tenant " + i + " step " + seq);
                optimStep(run, seq + 2);
                worker.get().signal(run);
              };
          clients.schedule(next, 3L * i, java.util.concurrent.TimeUnit.MILLISECONDS);
        };
    Worker.Stats stats;
    try (Worker w = new Worker(ds, base, manager, settings(8, 8), registry, onFinished)) {
      worker.set(w);
      w.start();
      for (String r : runs) {
        awaitDone(r, 2 * steps);
      }
      stats = w.stats();
    } finally {
      clients.shutdownNow();
    }
    long claims = registry.get("lathe.worker.phase").tag("phase", "claim").timer().count();
    // One claim a cycle (8 in 8 cycles here; a claim per arrival made 21 in 7), with room for the
    // odd claim that finds a client between its two inserts.
    assertThat(claims)
        .as("claims in %d cycles", stats.cycles())
        .isLessThanOrEqualTo(stats.cycles() * 3 / 2 + 2);
    assertThat(stats.fusedRequests()).isEqualTo((long) steps * runs.size());
  }

  /**
   * More runs have an optim_step ready in one cycle than fit in memory: their adapters step in
   * groups of as many as the slots hold (a swap-in never evicts an adapter of the group being
   * stepped), each as in a worker where all fit.
   */
  @Test
  void optimStepsOfMoreRunsThanSlotsStepInGroupsThatFit() throws Exception {
    List<String> roomy = runs("steps-roomy");
    List<String> tight = runs("steps-tight");
    for (List<String> set : List.of(roomy, tight)) {
      try (Worker w = worker(settings(5, 5))) {
        for (int i = 0; i < set.size(); i++) {
          awaitDone(set.get(i), 0);
          forwardBackward(set.get(i), 1, "tenant " + i + " has a gradient");
          awaitDone(set.get(i), 1);
        }
      }
    }
    for (var c : List.of(Map.entry(roomy, settings(5, 5)), Map.entry(tight, settings(2, 1)))) {
      // Queued while no worker runs: the next one finds every run's optim_step ready at once.
      c.getKey().forEach(r -> optimStep(r, 2));
      try (Worker w = worker(c.getValue())) {
        for (String r : c.getKey()) {
          awaitDone(r, 2);
        }
      }
    }
    for (int i = 0; i < RANKS.length; i++) {
      assertThat(result(tight.get(i), 2).path("metrics").path("step:max").asDouble())
          .isEqualTo(1.0);
      assertThat(differences(adapter(tight.get(i)), adapter(roomy.get(i))))
          .as("adapter %d", i)
          .isEmpty();
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
    Worker.Settings quick = settings(4, 4, Duration.ofSeconds(1), 4L << 30);
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
    return status(model, "training_runs");
  }

  String status(String id, String table) {
    return jdbc.queryForObject("SELECT status FROM " + table + " WHERE id = ?", String.class, id);
  }

  /** A sample request of {@code tenant} on the base model or a checkpoint path, queued. */
  void enqueueSample(String id, String tenant, String modelPath, int[] prompt, long seed) {
    enqueueSample(id, tenant, modelPath, prompt, seed, 2, 6);
  }

  void enqueueSample(
      String id,
      String tenant,
      String modelPath,
      int[] prompt,
      long seed,
      int samples,
      int maxTokens) {
    Map<String, Object> body = new java.util.HashMap<>();
    body.put("prompt", Map.of("chunks", List.of(Map.of("type", "encoded_text", "tokens", prompt))));
    body.put("num_samples", samples);
    body.put("sampling_params", Map.of("max_tokens", maxTokens, "temperature", 1.0, "seed", seed));
    body.put("prompt_logprobs", true);
    if (modelPath != null) {
      body.put("model_path", modelPath);
    } else {
      body.put("base_model", "lathe-tiny");
    }
    String json = dev.lathe.contracts.WireJson.mapper().writeValueAsString(body);
    jdbc.update(
        "INSERT INTO tenants (id, name) VALUES (?, ?) ON CONFLICT DO NOTHING", tenant, tenant);
    jdbc.update(
        "INSERT INTO requests (id, tenant_id, base_model, kind, body, body_sha256)"
            + " VALUES (?, ?, 'lathe-tiny', 'sample', ?::jsonb, sha256(?::bytea))",
        id,
        tenant,
        json,
        json.getBytes());
  }

  /** A request's result once it is done (fails the test if it failed). */
  String resultOf(String id) throws InterruptedException {
    for (int i = 0; i < 600; i++) {
      var row =
          jdbc.queryForMap(
              "SELECT status, result::text AS result, error FROM requests WHERE id = ?", id);
      assertThat(row.get("status")).as(String.valueOf(row.get("error"))).isNotEqualTo("failed");
      if ("done".equals(row.get("status"))) {
        return (String) row.get("result");
      }
      Thread.sleep(50);
    }
    throw new AssertionError(id + " did not finish");
  }

  @Test
  void samplingRequestsOfSeveralTenantsDecodeTogetherAsEachAlone() throws Exception {
    String model = run("tenant-s", "sampler:0", 8);
    String path;
    try (Worker w = worker()) {
      forwardBackward(model, 1, "sampling from a trained adapter");
      optimStep(model, 2);
      enqueue(
          model,
          3,
          "save_weights_for_sampler",
          Map.of("model_id", model, "seq_id", 3, "path", "s"));
      awaitDone(model, 3);
      path = result(model, 3).get("path").asString();
    }
    int[][] prompts = {{10, 20, 30}, {40, 50, 60, 70, 80, 90, 100}, {5, 6, 7, 8, 9}};
    String[] tenants = {"tenant-a", "tenant-b", "tenant-s"};
    String[] paths = {null, null, path};
    // Alone: one worker, one request at a time.
    try (Worker w = worker()) {
      for (int i = 0; i < 3; i++) {
        enqueueSample("alone-" + i, tenants[i], paths[i], prompts[i], 100 + i);
        resultOf("alone-" + i);
      }
    }
    // Together: queued while no worker runs, then they decode as one batch (3 × 2 samples).
    for (int i = 0; i < 3; i++) {
      enqueueSample("together-" + i, tenants[i], paths[i], prompts[i], 100 + i);
    }
    try (Worker w = worker()) {
      for (int i = 0; i < 3; i++) {
        resultOf("together-" + i);
      }
      assertThat(maxDecodeRows()).isEqualTo(6);
    }
    for (int i = 0; i < 3; i++) {
      assertSameSamples("together-" + i, "alone-" + i);
    }
  }

  @Test
  void aSampleRequestJoinsARunningDecodeAndLeavesItFirst() throws Exception {
    int[] longPrompt = {3, 1, 4, 1, 5};
    int[] shortPrompt = {2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5};
    String model = run("tenant-t", "beside-decoding:0", 8);
    try (Worker w = worker()) {
      awaitDone(model, 0);
      enqueueSample("long", "tenant-l", null, longPrompt, 1, 1, 1500);
      w.signal();
      awaitStatus("long", "running");
      while (w.stats().decoding() == 0) {
        Thread.sleep(5);
      }
      enqueueSample("short", "tenant-s", null, shortPrompt, 2, 2, 5);
      forwardBackward(model, 1, "training goes on while samples decode");
      w.signal();
      resultOf("short");
      awaitDone(model, 1);
      // With a decode batch per cycle, both would wait for the long request to end.
      assertThat(status("long", "requests")).isEqualTo("running");
      resultOf("long");
      assertThat(maxDecodeRows()).isEqualTo(3);
    }
    try (Worker w = worker()) { // one after the other
      enqueueSample("short-alone", "tenant-s", null, shortPrompt, 2, 2, 5);
      resultOf("short-alone");
      enqueueSample("long-alone", "tenant-l", null, longPrompt, 1, 1, 1500);
      resultOf("long-alone");
    }
    assertSameSamples("short", "short-alone");
    assertSameSamples("long", "long-alone");
  }

  @Test
  void sampleRequestsThatDoNotFitTheCacheBudgetTogetherTakeTurns() throws Exception {
    // lathe-tiny keeps 2 × 4 layers × 4 KV heads × 32 × 4 bytes = 4 KiB per cache slot. Each
    // request alone: 2 samples × (3 + 6) slots = 72 KiB; both: 4 × (3 + 6) = 144 KiB.
    Worker.Settings budget = settings(8, 32, Duration.ofMinutes(10), 100_000);
    enqueueSample("first", "tenant-a", null, new int[] {1, 2, 3}, 1);
    enqueueSample("second", "tenant-b", null, new int[] {4, 5, 6}, 2);
    try (Worker w = worker(budget)) {
      resultOf("first");
      resultOf("second");
      assertThat(maxDecodeRows()).isEqualTo(2);
    }
  }

  /** The most samples one decode step has held. */
  double maxDecodeRows() {
    return registry.get("lathe.worker.decode.rows").summary().max();
  }

  void awaitStatus(String id, String status) throws InterruptedException {
    for (int i = 0; i < 600 && !status(id, "requests").equals(status); i++) {
      Thread.sleep(10);
    }
    assertThat(status(id, "requests")).isEqualTo(status);
  }

  /** Two requests' samples: the same tokens, logprobs to float rounding. */
  void assertSameSamples(String id, String reference) throws InterruptedException {
    var mapper = dev.lathe.contracts.WireJson.mapper();
    var expected = mapper.readTree(resultOf(reference)).get("sequences");
    var actual = mapper.readTree(resultOf(id)).get("sequences");
    assertThat(actual.size()).isEqualTo(expected.size());
    for (int s = 0; s < expected.size(); s++) {
      assertThat(actual.get(s).get("tokens"))
          .as("%s sample %d", id, s)
          .isEqualTo(expected.get(s).get("tokens"));
      var a = expected.get(s).get("logprobs");
      var b = actual.get(s).get("logprobs");
      for (int t = 0; t < a.size(); t++) {
        assertThat(b.get(t).asDouble()).isCloseTo(a.get(t).asDouble(), Offset.offset(1e-4));
      }
    }
  }

  @Test
  void unloadModelRunsBesideSamplingAndLosesNothing() throws Exception {
    String reference = run("tenant-u", "unload-ref:0", 8);
    String model = run("tenant-u", "unload:0", 8);
    try (Worker w = worker()) {
      forwardBackward(reference, 1, "unload keeps the gradient");
      optimStep(reference, 2);
      awaitDone(reference, 2);
      forwardBackward(model, 1, "unload keeps the gradient");
      awaitDone(model, 1);
      // unload_model carries no seq_id: it runs outside the run's order, as sampling does.
      String body = "{\"model_id\": \"" + model + "\"}";
      jdbc.update(
          "INSERT INTO requests (id, tenant_id, base_model, model_id, kind, body, body_sha256)"
              + " VALUES ('unload-1', 'tenant-u', 'lathe-tiny', ?, 'unload_model', ?::jsonb,"
              + " sha256(?::bytea))",
          model,
          body,
          body.getBytes());
      assertThat(resultOf("unload-1")).contains(model);
      assertThat(status(model)).isEqualTo("unloaded");
      optimStep(model, 2);
      awaitDone(model, 2);
    }
    assertThat(differences(adapter(model), adapter(reference))).isEmpty();
  }
}
