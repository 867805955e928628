package dev.lathe.worker.runtime;

import dev.lathe.worker.cache.AdapterCache;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * What the worker loop reports to Micrometer: per primitive, how long requests waited in the queue
 * and how long they ran; per tenant, requests and tokens; per clock cycle, its duration and the
 * fused batch's size; per decode step, its rows and duration; the loop's time by phase; and the
 * adapter cache's hits, misses, evictions and swap time.
 */
final class WorkerMetrics {

  private final MeterRegistry registry;
  private final String baseModel;
  // Meters hold their state weakly: they read the cache through this object, which the worker
  // keeps alive.
  private Supplier<AdapterCache.Stats> cache;

  WorkerMetrics(MeterRegistry registry, String baseModel) {
    this.registry = registry;
    this.baseModel = baseModel;
  }

  /** Reports the adapter cache's counters and gauges, read from {@code cache}. */
  void watch(Supplier<AdapterCache.Stats> cache) {
    this.cache = cache;
    cacheCounter("lathe.adapters.hits", "resident", AdapterCache.Stats::hits);
    cacheCounter("lathe.adapters.hits", "host", AdapterCache.Stats::hostHits);
    cacheCounter("lathe.adapters.misses", "disk", AdapterCache.Stats::misses);
    cacheCounter("lathe.adapters.evictions", "device", AdapterCache.Stats::evictions);
    cacheCounter("lathe.adapters.evictions", "host", AdapterCache.Stats::spills);
    cacheCounter("lathe.adapters.swap.seconds", "in", s -> s.swapInNanos() / 1e9);
    cacheCounter("lathe.adapters.swap.seconds", "out", s -> s.swapOutNanos() / 1e9);
    Gauge.builder("lathe.adapters.resident", this, m -> m.cache.get().resident())
        .tag("base_model", baseModel)
        .description("adapters in device memory")
        .register(registry);
    Gauge.builder("lathe.adapters.host", this, m -> m.cache.get().host())
        .tag("base_model", baseModel)
        .description("adapters in host memory")
        .register(registry);
    Gauge.builder("lathe.adapters.host.bytes", this, m -> m.cache.get().hostBytes())
        .tag("base_model", baseModel)
        .baseUnit("bytes")
        .register(registry);
  }

  /** Counts the snapshot writes that failed; the steps they held stay recoverable by replay. */
  void watchSnapshots(Executor executor) {
    FunctionCounter.builder("lathe.snapshots.failed", executor, Executor::snapshotFailures)
        .tag("base_model", baseModel)
        .description("snapshot writes that failed (store full, read-only, I/O errors)")
        .register(registry);
  }

  private void cacheCounter(String name, String tier, ToDoubleFunction<AdapterCache.Stats> value) {
    FunctionCounter.builder(name, this, m -> value.applyAsDouble(m.cache.get()))
        .tag("base_model", baseModel)
        .tag(name.endsWith("seconds") ? "direction" : "tier", tier)
        .register(registry);
  }

  /** A request finished: how long it waited to be claimed, how long it ran, its tokens. */
  void finished(Claimed c, boolean ok, long runNanos, int tokens) {
    String outcome = ok ? "done" : "failed";
    Timer.builder("lathe.request.run")
        .description("time a request ran on the worker, by primitive")
        .tag("kind", c.kind())
        .tag("outcome", outcome)
        .register(registry)
        .record(runNanos, TimeUnit.NANOSECONDS);
    if (c.waited() != null) {
      Timer.builder("lathe.request.queue.wait")
          .description("time from a request's arrival to its claim, by primitive")
          .tag("kind", c.kind())
          .register(registry)
          .record(c.waited());
    }
    Counter.builder("lathe.tenant.requests")
        .tag("tenant", c.tenantId())
        .tag("kind", c.kind())
        .tag("outcome", outcome)
        .register(registry)
        .increment();
    if (tokens > 0) {
      Counter.builder("lathe.tenant.tokens")
          .description("tokens processed (trained on, scored or sampled)")
          .tag("tenant", c.tenantId())
          .tag("kind", c.kind())
          .register(registry)
          .increment(tokens);
    }
  }

  /**
   * Where the loop's time goes, by phase: claim, fused (forward/backward; engine is the part of it
   * in the engine, the rest reads requests and shapes results), optimizer, snapshot, results
   * (writing futures), heartbeat, decode and idle (waiting for work).
   */
  void phase(String phase, long nanos) {
    Timer.builder("lathe.worker.phase")
        .tag("base_model", baseModel)
        .tag("phase", phase)
        .description("time the worker loop spends in each phase of its cycles")
        .register(registry)
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  /** A decode step ran: one token for each of {@code rows} samples. */
  void decodeStep(int rows, long nanos) {
    DistributionSummary.builder("lathe.worker.decode.rows")
        .description("samples decoding together in one step")
        .tag("base_model", baseModel)
        .register(registry)
        .record(rows);
    Timer.builder("lathe.worker.decode.step")
        .description("time of one decode step")
        .tag("base_model", baseModel)
        .register(registry)
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  /**
   * A training run's next request was queued (as the api in this process signals it; else claimed)
   * this long after its last result was written: the client's round trip (wake-up, response, its
   * own work, the next request's way in).
   */
  void roundTrip(long nanos) {
    Timer.builder("lathe.worker.round.trip")
        .tag("base_model", baseModel)
        .description("from a run's last result written to its next request queued")
        .register(registry)
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  /** A clock cycle ran. */
  void cycle(long nanos, int fusedRequests, long fusedTokens) {
    Timer.builder("lathe.worker.cycle")
        .tag("base_model", baseModel)
        .register(registry)
        .record(Duration.ofNanos(nanos));
    if (fusedRequests > 0) {
      DistributionSummary.builder("lathe.worker.fused.requests")
          .description("requests in one fused batch")
          .tag("base_model", baseModel)
          .register(registry)
          .record(fusedRequests);
      DistributionSummary.builder("lathe.worker.fused.tokens")
          .description("tokens in one fused batch")
          .tag("base_model", baseModel)
          .register(registry)
          .record(fusedTokens);
    }
  }
}
