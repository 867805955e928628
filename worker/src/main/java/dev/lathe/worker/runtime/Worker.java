package dev.lathe.worker.runtime;

import ai.djl.ndarray.NDManager;
import dev.lathe.contracts.WireJson;
import dev.lathe.worker.cache.AdapterCache;
import dev.lathe.worker.engine.GradMode;
import dev.lathe.worker.model.BaseModel;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The worker loop: claims the pending requests of its base model from PostgreSQL and runs them one
 * clock cycle at a time. A cycle runs the ready forward and forward_backward requests of all
 * tenants as one fused batch ({@link CyclePlan} decides who joins), then the barriers (optim_step,
 * save, load, ...) per training run, then requests outside any run's order (unload_model), then
 * decodes: sampling requests join one continuous decode batch ({@link Decoder}) at token
 * boundaries, one per tenant in turn, and leave it when they end. Decoding gets as much time per
 * cycle as the training part took (at least one token), so neither starves the other; between
 * tokens the worker claims again (when the api signals a new request, or every {@link
 * #CLAIM_INTERVAL}), so a new sample joins mid-decode. Each training run's requests run in seq_id
 * order (a gap waits, bounded, and is never reordered around). Every result is written back to its
 * row. One thread owns the engine.
 */
public final class Worker implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Worker.class);

  /** A worker silent this long is gone: the requests it claimed are run again by others. */
  static final Duration LEASE = Duration.ofSeconds(30);

  static final Duration HEARTBEAT = Duration.ofSeconds(5);

  /** How often finished requests past their retention are deleted, and how many at a time. */
  static final Duration PRUNE = Duration.ofMinutes(1);

  static final int PRUNE_BATCH = 5000;

  /** Bounds of the wait for the next steps of runs that just finished one (awaitNextSteps). */
  static final Duration MIN_GATHER = Duration.ofMillis(2);

  static final Duration MAX_GATHER = Duration.ofMillis(100);

  /** Or this part of the last cycle, where that is longer: at most a tenth of the time idle. */
  static final int GATHER_PER_CYCLE = 10;

  /** While samples decode, how often the worker looks for new requests unless signalled. */
  static final Duration CLAIM_INTERVAL = Duration.ofMillis(20);

  /**
   * @param workerId this process's id in request rows and leases
   * @param storage where adapters and checkpoints are written
   * @param gapTimeout how long a request waits for an earlier seq_id of its model
   * @param claimLimit requests of one tenant this worker claims ahead of running them
   * @param adapterSlots adapters resident in device memory (the most runs one cycle fuses)
   * @param hostAdapterSlots adapters kept in host memory after leaving the device
   * @param cycleTokens tokens one fused batch aims to hold, shared equally by the tenants in it
   * @param sessionTimeout a training run whose session is silent this long is unloaded
   * @param decodeRows samples decoding together; new sample requests join while fewer decode
   * @param decodeCacheBytes the most the decode batch's KV cache may take (a request alone always
   *     runs)
   * @param requestRetention how long finished requests (futures) are kept; training steps a crash
   *     would replay are kept until a snapshot covers them
   */
  public record Settings(
      String workerId,
      Path storage,
      Duration gapTimeout,
      int claimLimit,
      int adapterSlots,
      int hostAdapterSlots,
      int cycleTokens,
      Duration sessionTimeout,
      int decodeRows,
      long decodeCacheBytes,
      Duration requestRetention) {

    /** Defaults for everything but identity and storage. */
    public static Settings of(String workerId, Path storage) {
      return new Settings(
          workerId,
          storage,
          Duration.ofSeconds(30),
          16,
          8,
          32,
          8192,
          Duration.ofMinutes(10),
          64,
          4L << 30,
          Duration.ofHours(1));
    }
  }

  /** What the loop has done, for metrics. */
  public record Stats(
      long cycles,
      long lastCycleNanos,
      int lastFusedRequests,
      long lastFusedTokens,
      long fusedRequests,
      int held,
      int decoding,
      AdapterCache.Stats adapters) {}

  private final BaseModel base;
  private final WorkerStore store;
  private final Settings settings;
  private final Consumer<String> onFinished;
  private final Executor executor;
  private final Decoder decoder;
  private final WorkerMetrics metrics;
  private final Map<String, TreeMap<Integer, Claimed>> waiting = new LinkedHashMap<>();
  private final Map<String, Integer> lastSeq = new HashMap<>();
  private final List<Claimed> unordered = new ArrayList<>();
  private final Map<String, Integer> tokens = new HashMap<>();
  private final Map<String, Integer> heldPerTenant = new HashMap<>();
  private final Map<String, Long> decodingSince = new HashMap<>(); // request id → nanoTime
  private final Set<String> gapWarned = new HashSet<>(); // requests logged as running past a gap
  private final Set<String> stepped = new HashSet<>(); // runs that finished a request this cycle
  private final List<Pending> finishing = new ArrayList<>(); // ended, rows not yet written
  // Requests that run off the loop (OFF_LOOP) and what became of them.
  private final java.util.concurrent.ExecutorService offLoop =
      java.util.concurrent.Executors.newSingleThreadExecutor(
          Thread.ofPlatform().name("lathe-off-loop").daemon(true).factory());
  private final java.util.concurrent.ConcurrentLinkedQueue<OffLoop> doneOffLoop =
      new java.util.concurrent.ConcurrentLinkedQueue<>();
  private final Map<String, Long> resultsOut = new HashMap<>(); // run → nanoTime of its last result
  // Runs with a request queued and not yet claimed, as the api in this process signals them, and
  // since when (System.nanoTime).
  private final Map<String, Long> arrived = new java.util.concurrent.ConcurrentHashMap<>();
  private long cycles;
  // The round trip of the slowest client of a claim (result written → next request here), a
  // moving mean: how long the gather between cycles waits for everyone's next step.
  private double slowestTripNanos;
  private long fusedRequests;
  private long lastCycleNanos;
  private int lastFusedRequests;
  private long lastFusedTokens;
  private volatile Stats stats = new Stats(0, 0, 0, 0, 0, 0, 0, null);
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition wake = lock.newCondition();
  private final Thread thread;
  private volatile boolean running = true;
  private boolean signalled;
  private volatile boolean queued; // a request was queued since the last claim
  private long lastClaim;
  private long nextHeartbeat;
  private long nextPrune;

  /**
   * @param onFinished told the id of every request this worker finishes (for long-polls)
   */
  public Worker(
      DataSource ds,
      BaseModel base,
      NDManager manager,
      Settings settings,
      MeterRegistry registry,
      Consumer<String> onFinished) {
    this.base = base;
    this.store = new WorkerStore(ds);
    this.settings = settings;
    this.onFinished = onFinished;
    this.metrics = new WorkerMetrics(registry, base.name());
    this.executor =
        new Executor(
            base,
            manager,
            store,
            settings.storage(),
            settings.adapterSlots(),
            settings.hostAdapterSlots(),
            settings.decodeRows(),
            settings.decodeCacheBytes(),
            metrics::phase);
    metrics.watch(executor::cacheStats);
    metrics.watchSnapshots(executor);
    this.decoder = executor.decoder();
    this.thread = Thread.ofPlatform().name("lathe-worker").daemon(true).unstarted(this::loop);
  }

  /**
   * Starts the loop. What a worker of the same id had claimed and not finished goes back to the
   * queue first: that was this worker before a restart (a crash, kill -9), and its memory is gone.
   */
  public Worker start() {
    try {
      int released = store.release(settings.workerId());
      if (released > 0) {
        log.warn(
            "{} requests claimed by {} before it restarted went back to the queue",
            released,
            settings.workerId());
      }
    } catch (SQLException e) {
      throw new IllegalStateException("cannot take back the claims of " + settings.workerId(), e);
    }
    thread.start();
    log.info(
        "Worker {} serves {} ({}M parameters)",
        settings.workerId(),
        base.name(),
        base.config().parameterCount() / 1_000_000);
    return this;
  }

  /** From now on snapshots are dropped, as if this worker died with them in flight (tests). */
  void holdSnapshots() {
    executor.holdSnapshots();
  }

  /**
   * Wakes the loop: a request of training run {@code modelId} (null: of none) was just queued. A
   * run the loop waits for between cycles counts as arrived without a claim, so that a burst of
   * runs' next steps is claimed once, not once per run.
   */
  public void signal(String modelId) {
    if (modelId != null) {
      arrived.putIfAbsent(modelId, System.nanoTime());
    }
    signal();
  }

  /** Wakes the loop: a request was just queued. */
  public void signal() {
    queued = true;
    lock.lock();
    try {
      signalled = true;
      wake.signal();
    } finally {
      lock.unlock();
    }
  }

  private void loop() {
    GradMode.off();
    while (running) {
      try {
        heartbeatIfDue();
        boolean claimed = claimIfDue();
        boolean ran = cycle();
        if (ran) {
          awaitNextSteps();
        }
        if (!claimed && !ran) {
          executor.snapshotDirty();
          pause(waiting.isEmpty() ? 200 : 20);
        }
      } catch (Exception e) {
        log.error("worker loop failed; retrying", e);
        pause(1000);
      }
    }
  }

  private static final Set<String> FUSED = Set.of("forward", "forward_backward");

  /** Requests that read only the frozen base and saved files: they run beside the clock cycle. */
  private static final Set<String> OFF_LOOP = Set.of("adapter_diagnostics", "merged_export");

  /**
   * Renews the lease (taking back the requests of stopped workers) and unloads silent runs, once
   * per {@link #HEARTBEAT}.
   */
  private void heartbeatIfDue() throws Exception {
    if (System.nanoTime() < nextHeartbeat) {
      return;
    }
    long t0 = System.nanoTime();
    int reclaimed = store.heartbeat(settings.workerId(), base.name(), LEASE, statsJson());
    if (reclaimed > 0) {
      log.warn("{} requests of stopped workers went back to the queue", reclaimed);
    }
    unloadIdleRuns();
    pruneIfDue();
    // Signals of requests another worker claimed (another base model's) or that a claim took
    // before they came.
    arrived.values().removeIf(at -> t0 - at > LEASE.toNanos());
    metrics.phase("heartbeat", System.nanoTime() - t0);
    nextHeartbeat = System.nanoTime() + HEARTBEAT.toNanos();
  }

  /**
   * Deletes finished requests past their retention, a bounded batch per heartbeat until none are
   * left, then at most once per {@link #PRUNE}.
   */
  private void pruneIfDue() throws SQLException {
    if (System.nanoTime() < nextPrune) {
      return;
    }
    int deleted = store.prune(settings.requestRetention(), PRUNE_BATCH);
    if (deleted > 0) {
      log.info(
          "deleted {} requests finished more than {} ago", deleted, settings.requestRetention());
    }
    nextPrune = deleted == PRUNE_BATCH ? 0 : System.nanoTime() + PRUNE.toNanos();
  }

  /**
   * After a cycle, waits a moment for the next step of each run that has nothing queued here now
   * but just finished a request: its client sends the next one as soon as it has the result, a
   * round trip from now. Without this wait the runs that were in one cycle would start the next
   * without those whose results just went out, and the tenants would split into groups that each
   * get a cycle of their own, each paying a cycle's fixed costs. The wait lasts twice the round
   * trip of the slowest client a claim took (a moving mean), never longer than the last cycle (a
   * cycle without them would be over by then) nor than {@link #MAX_GATHER} or a tenth of the last
   * cycle, whichever is longer (on a slow clock a late client would wait a long cycle, and the
   * others in its cycle lose little waiting for it), and ends as soon as every such run has its
   * next step here or signalled as queued; what arrived is then claimed at once, in one claim.
   */
  private void awaitNextSteps() {
    if (stepped.isEmpty()) {
      return;
    }
    long window =
        Math.clamp(
            Math.min(2 * (long) slowestTripNanos, lastCycleNanos),
            MIN_GATHER.toNanos(),
            Math.max(MAX_GATHER.toNanos(), lastCycleNanos / GATHER_PER_CYCLE));
    long deadline = System.nanoTime() + window;
    while (running && System.nanoTime() < deadline) {
      stepped.removeIf(id -> hasQueued(id) || arrived.containsKey(id));
      if (stepped.isEmpty()) {
        break;
      }
      pause(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
    }
    stepped.clear();
    queued = true; // the loop claims next, signalled or not
  }

  /**
   * Claims what is queued for this worker, unless samples are decoding and nothing was signalled
   * within the claim interval (then a claim per token would only load the database).
   *
   * @return whether it claimed anything
   */
  private boolean claimIfDue() throws SQLException {
    long now = System.nanoTime();
    if (decoder.rows() > 0 && !queued && now - lastClaim < CLAIM_INTERVAL.toNanos()) {
      return false;
    }
    queued = false;
    lastClaim = now;
    List<String> full =
        heldPerTenant.entrySet().stream()
            .filter(e -> e.getValue() >= settings.claimLimit())
            .map(Map.Entry::getKey)
            .toList();
    List<Claimed> claimed =
        store.claim(settings.workerId(), base.name(), full, settings.claimLimit());
    metrics.phase("claim", System.nanoTime() - now);
    long slowest = -1;
    for (Claimed c : claimed) {
      heldPerTenant.merge(c.tenantId(), 1, Integer::sum);
      Long at = c.modelId() != null ? arrived.remove(c.modelId()) : null;
      Long out = c.ordered() ? resultsOut.remove(c.modelId()) : null;
      if (out != null) {
        long trip = (at != null && at >= out ? at : now) - out; // to its arrival, where signalled
        metrics.roundTrip(trip);
        slowest = Math.max(slowest, trip);
      }
      if (c.ordered()) {
        waiting.computeIfAbsent(c.modelId(), k -> new TreeMap<>()).put(c.seqId(), c);
        if (FUSED.contains(c.kind())) {
          tokens.put(c.id(), Inputs.tokenCount(c));
        }
      } else {
        unordered.add(c);
      }
    }
    if (slowest >= 0) {
      slowestTripNanos += (slowest - slowestTripNanos) / 8; // a moving mean of the last few
    }
    return !claimed.isEmpty();
  }

  /**
   * Frees the adapters of training runs whose session has been silent for the session timeout and
   * that have nothing queued here; their state is saved first, so nothing is lost.
   */
  private void unloadIdleRuns() throws Exception {
    Set<String> held = executor.inMemory();
    if (held.isEmpty()) {
      return;
    }
    for (String id : store.silentRuns(held, settings.sessionTimeout())) {
      if (!waiting.containsKey(id)) {
        MDC.put("model_id", id);
        try {
          executor.unloadIdle(id);
          resultsOut.remove(id);
          log.info("unloaded: its session has been silent for {}", settings.sessionTimeout());
        } finally {
          MDC.remove("model_id");
        }
      }
    }
  }

  /** One clock cycle: the fused batch, then the barriers, the rest, and decoding. */
  private boolean cycle() throws Exception {
    long start = System.nanoTime();
    List<CyclePlan.Ready> ready = new ArrayList<>();
    for (var e : waiting.entrySet()) {
      List<Claimed> run = new ArrayList<>();
      List<Integer> counts = new ArrayList<>();
      int next = -1;
      for (Claimed c = readyHead(e.getKey(), e.getValue()); c != null; ) {
        run.add(c);
        counts.add(tokens.getOrDefault(c.id(), 0));
        next = c.seqId() + 1;
        c = e.getValue().get(next);
        if (c != null && !FUSED.contains(c.kind())) {
          c = null;
        }
      }
      if (!run.isEmpty() && FUSED.contains(run.getFirst().kind())) {
        ready.add(new CyclePlan.Ready(run.getFirst().tenantId(), e.getKey(), run, counts));
      }
    }
    List<Claimed> batch =
        CyclePlan.plan(ready, settings.cycleTokens(), executor.adapterSlots(), cycles);
    boolean ran = !batch.isEmpty();
    if (ran) {
      long t0 = System.nanoTime();
      List<Executor.Done> done = executor.fused(batch);
      long took = System.nanoTime() - t0;
      metrics.phase("fused", took);
      for (Executor.Done d : done) {
        Claimed c = d.request();
        waiting.get(c.modelId()).remove(c.seqId());
        ran(c);
        finish(d, took);
      }
      writeFinished();
      // A client sends optim_step right after forward_backward: it has likely arrived during the
      // fused batch, and joins this cycle's optimizer phase rather than a cycle of its own.
      if (!batch.stream().allMatch(c -> hasQueued(c.modelId()))) {
        queued = true;
        claimIfDue();
      }
    }
    ran |= runOptimSteps();
    ran |= runBarriers();
    ran |= runUnordered();
    writeFinished();
    long training = System.nanoTime() - start;
    if (ran) {
      // A clock cycle is the training part; decode steps have metrics of their own.
      cycles++;
      fusedRequests += batch.size();
      lastCycleNanos = training;
      executor.cycleTook(training);
      lastFusedRequests = batch.size();
      lastFusedTokens = batch.stream().mapToLong(c -> tokens.getOrDefault(c.id(), 0)).sum();
      metrics.cycle(training, lastFusedRequests, lastFusedTokens);
      batch.forEach(c -> tokens.remove(c.id()));
    }
    boolean decoded = decode(training);
    if (ran || decoded) {
      stats =
          new Stats(
              cycles,
              lastCycleNanos,
              lastFusedRequests,
              lastFusedTokens,
              fusedRequests,
              heldPerTenant.values().stream().mapToInt(Integer::intValue).sum(),
              decoder.rows(),
              executor.cacheStats());
    }
    waiting.values().removeIf(TreeMap::isEmpty);
    return ran || decoded;
  }

  /** What the lease row shows operators (the admin dashboard's live view). */
  private String statsJson() {
    Stats s = stats();
    AdapterCache.Stats a = s.adapters();
    long lookups = a.hits() + a.hostHits() + a.misses();
    var json = WireJson.mapper().createObjectNode();
    json.put("cycles", s.cycles())
        .put("last_cycle_ms", s.lastCycleNanos() / 1e6)
        .put("last_fused_requests", s.lastFusedRequests())
        .put("last_fused_tokens", s.lastFusedTokens())
        .put("held_requests", s.held())
        .put("decoding_samples", s.decoding())
        .put("adapter_slots", settings.adapterSlots())
        .put("resident_adapters", a.resident())
        .put("host_adapters", a.host())
        .put("adapter_hits", a.hits())
        .put("adapter_host_hits", a.hostHits())
        .put("adapter_misses", a.misses())
        .put("adapter_evictions", a.evictions())
        .put("hit_rate", lookups == 0 ? 1.0 : (double) a.hits() / lookups);
    return json.toString();
  }

  /** Whether the loop thread is alive (it has started and not been closed). */
  public boolean running() {
    return running && thread.isAlive();
  }

  /** What the loop has done so far; the adapter cache as it is now. */
  public Stats stats() {
    Stats s = stats;
    return new Stats(
        s.cycles(),
        s.lastCycleNanos(),
        s.lastFusedRequests(),
        s.lastFusedTokens(),
        s.fusedRequests(),
        s.held(),
        s.decoding(),
        executor.cacheStats());
  }

  /**
   * The first request of a run if it may run now (the next seq_id, or its wait for an earlier one
   * is over); requests that arrived after a later seq_id ran are failed on the way.
   */
  private Claimed readyHead(String modelId, TreeMap<Integer, Claimed> queue) throws Exception {
    int last = lastSeq.computeIfAbsent(modelId, this::storedLastSeq);
    while (!queue.isEmpty()) {
      Claimed head = queue.firstEntry().getValue();
      if (head.seqId() <= last) {
        queue.pollFirstEntry();
        ran(head);
        failWith(
            head,
            new UserError("seq_id " + head.seqId() + " arrived after seq_id " + last + " had run"),
            0);
        continue;
      }
      boolean next = head.seqId() == last + 1 || head.kind().equals("create_model");
      boolean gapExpired =
          System.nanoTime() - head.claimedAtNanos() > settings.gapTimeout().toNanos();
      if (!next && gapExpired && gapWarned.add(head.id())) {
        log.warn(
            "model {}: seq_id {} runs after waiting {} for seq_id {}",
            modelId,
            head.seqId(),
            settings.gapTimeout(),
            last + 1);
      }
      return next || gapExpired ? head : null;
    }
    return null;
  }

  /**
   * The optim_step at the head of each run, all of them one after another as one phase whose
   * results are written together: the step that follows a fused batch, for every tenant in it.
   */
  private boolean runOptimSteps() throws Exception {
    List<Claimed> heads = new ArrayList<>();
    for (var e : waiting.entrySet()) {
      Claimed head = readyHead(e.getKey(), e.getValue());
      if (head != null && head.kind().equals("optim_step")) {
        e.getValue().pollFirstEntry();
        ran(head);
        heads.add(head);
      }
    }
    long t0 = System.nanoTime();
    List<Executor.Done> done = executor.optimSteps(heads);
    long took = System.nanoTime() - t0;
    done.forEach(d -> finish(d, took));
    writeFinished();
    return !heads.isEmpty();
  }

  /**
   * Per run, the ready barriers (everything but forward and forward_backward), in order, each
   * written before the next runs.
   */
  private boolean runBarriers() throws Exception {
    boolean ran = false;
    for (var e : waiting.entrySet()) {
      Claimed head;
      while ((head = readyHead(e.getKey(), e.getValue())) != null && !FUSED.contains(head.kind())) {
        e.getValue().pollFirstEntry();
        ran(head);
        run(head);
        writeFinished();
        ran = true;
      }
    }
    return ran;
  }

  /** Requests outside any run's seq order other than sampling (e.g. unload_model). */
  private boolean runUnordered() throws SQLException {
    boolean ran = false;
    for (Iterator<Claimed> it = unordered.iterator(); it.hasNext(); ) {
      Claimed c = it.next();
      if (OFF_LOOP.contains(c.kind())) {
        it.remove();
        release(c);
        runOffLoop(c);
      } else if (!c.kind().equals("sample")) {
        it.remove();
        release(c);
        run(c);
        writeFinished();
        ran = true;
      }
    }
    for (OffLoop d; (d = doneOffLoop.poll()) != null; ) {
      finish(d.done(), d.runNanos());
      ran = true;
    }
    writeFinished();
    return ran;
  }

  /** A request that ran off the loop, and for how long. */
  private record OffLoop(Executor.Done done, long runNanos) {}

  /** Checks the request here, then runs it on its own thread; its end wakes the loop. */
  private void runOffLoop(Claimed c) {
    java.util.concurrent.Callable<Executor.Outcome> work;
    try {
      work = c.kind().equals("merged_export") ? executor.mergedExport(c) : executor.diagnostics(c);
    } catch (Exception e) {
      failWith(c, e, 0);
      return;
    }
    offLoop.execute(
        () -> {
          long t0 = System.nanoTime();
          Executor.Done d;
          try {
            d = new Executor.Done(c, work.call(), null);
          } catch (Exception e) {
            d = new Executor.Done(c, null, Executor.asRuntime(e));
          }
          doneOffLoop.add(new OffLoop(d, System.nanoTime() - t0));
          signal();
        });
  }

  /**
   * Lets waiting sample requests join the decode batch, then decodes for {@code budgetNanos} (at
   * least one token while any sample decodes), claiming between tokens so that new requests join at
   * the next token boundary.
   */
  private boolean decode(long budgetNanos) throws Exception {
    admitSamples();
    if (decoder.rows() == 0) {
      writeFinished(); // samples that failed to join
      return false;
    }
    long start = System.nanoTime();
    do {
      int rows = decoder.rows();
      long t0 = System.nanoTime();
      List<Executor.Done> done = decoder.step();
      metrics.decodeStep(rows, System.nanoTime() - t0);
      metrics.phase("decode", System.nanoTime() - t0);
      for (Executor.Done d : done) {
        finishSample(d);
      }
      writeFinished();
      if (claimIfDue()) {
        admitSamples();
      }
      heartbeatIfDue();
    } while (running && decoder.rows() > 0 && System.nanoTime() - start < budgetNanos);
    return true;
  }

  /**
   * Waiting sample requests join the batch, oldest first, one per tenant in turn, while there is
   * room. One that does not fit stops the others joining, so that a large request is not passed
   * over forever by small ones: it joins as soon as enough rows have left.
   */
  private void admitSamples() throws SQLException {
    boolean joined = true;
    while (joined && decoder.hasRoom()) {
      joined = false;
      Set<String> served = new HashSet<>();
      for (Iterator<Claimed> it = unordered.iterator(); it.hasNext() && decoder.hasRoom(); ) {
        Claimed c = it.next();
        if (!c.kind().equals("sample") || !served.add(c.tenantId())) {
          continue;
        }
        decodingSince.put(c.id(), System.nanoTime());
        mdc(c);
        try {
          if (!decoder.admit(c)) {
            decodingSince.remove(c.id());
            return;
          }
          it.remove();
          joined = true;
        } catch (RuntimeException | SQLException e) {
          it.remove();
          finishSample(new Executor.Done(c, null, Executor.asRuntime(e)));
        } finally {
          MDC.clear();
        }
      }
    }
  }

  private void finishSample(Executor.Done d) throws SQLException {
    Claimed c = d.request();
    long took = System.nanoTime() - decodingSince.remove(c.id());
    release(c);
    finish(d, took);
  }

  /** A request that ended, with its outcome or its error. */
  private void finish(Executor.Done d, long runNanos) {
    if (d.error() != null) {
      failWith(d.request(), d.error(), runNanos);
    } else {
      complete(d.request(), d.outcome(), runNanos);
    }
  }

  /** A request no longer counts against its tenant's claims here. */
  private void release(Claimed c) {
    if (heldPerTenant.merge(c.tenantId(), -1, Integer::sum) <= 0) {
      heldPerTenant.remove(c.tenantId());
    }
  }

  /** A training request leaves the queue: it counts no more against its tenant's claims. */
  private void ran(Claimed c) {
    if (c.seqId() != null) {
      lastSeq.merge(c.modelId(), c.seqId(), Math::max);
    }
    gapWarned.remove(c.id());
    release(c);
  }

  private int storedLastSeq(String modelId) {
    try {
      return store.run(modelId).map(WorkerStore.Run::lastSeqId).orElse(-1);
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  private void run(Claimed c) throws SQLException {
    long t0 = System.nanoTime();
    mdc(c);
    try {
      Executor.Outcome out;
      try {
        out = executor.execute(c);
      } catch (Exception e) {
        failWith(c, e, System.nanoTime() - t0);
        return;
      }
      complete(c, out, System.nanoTime() - t0);
    } finally {
      MDC.clear();
    }
  }

  private void complete(Claimed c, Executor.Outcome out, long runNanos) {
    if (c.ordered()) {
      stepped.add(c.modelId());
    }
    String result = WireJson.mapper().writeValueAsString(out.result());
    finishing.add(
        new Pending(
            WorkerStore.Finished.done(c, result, out.tokens(), out.step()),
            true,
            runNanos,
            out.tokens()));
  }

  private void failWith(Claimed c, Exception e, long runNanos) {
    mdc(c);
    try {
      if (e instanceof UserError) {
        fail(c, e.getMessage(), "user", runNanos);
      } else if (e instanceof StorageError) {
        log.error("request {} ({}): {}", c.id(), c.kind(), e.getCause().toString());
        fail(c, c.kind() + " failed: " + e.getMessage(), "server", runNanos);
      } else {
        log.error("request {} ({}) failed", c.id(), c.kind(), e);
        fail(c, c.kind() + " failed on the server: " + e, "server", runNanos);
      }
    } finally {
      MDC.clear();
    }
  }

  private void fail(Claimed c, String error, String category, long runNanos) {
    finishing.add(new Pending(WorkerStore.Finished.failed(c, error, category), false, runNanos, 0));
  }

  /** Whether a training run has a request here waiting to run. */
  private boolean hasQueued(String modelId) {
    TreeMap<Integer, Claimed> queue = waiting.get(modelId);
    return queue != null && !queue.isEmpty();
  }

  /** A request that ended, its row not yet written; what its metrics need. */
  private record Pending(WorkerStore.Finished finished, boolean ok, long runNanos, int tokens) {}

  /**
   * Writes how the requests that ended since the last write did, in one transaction, then tells the
   * long-polls. Called after each phase of a cycle, so a phase's results (a fused batch's, all
   * optimizer steps') cost one round of writes however many tenants took part; until then nothing
   * is read back that they change. Kept to be written again if the write fails.
   */
  private void writeFinished() throws SQLException {
    if (finishing.isEmpty()) {
      return;
    }
    long t0 = System.nanoTime();
    store.finish(finishing.stream().map(Pending::finished).toList());
    metrics.phase("results", System.nanoTime() - t0);
    long written = System.nanoTime();
    for (Pending p : finishing) {
      Claimed c = p.finished().request();
      if (c.ordered() && !hasQueued(c.modelId())) {
        resultsOut.put(c.modelId(), written); // nothing of it here: its client has the next move
      }
      metrics.finished(c, p.ok(), p.runNanos(), p.tokens());
      onFinished.accept(c.id());
    }
    finishing.clear();
  }

  /** The request's ids in the logging context (the loop thread's; cleared after). */
  private static void mdc(Claimed c) {
    MDC.put("request_id", c.id());
    MDC.put("tenant", c.tenantId());
    if (c.modelId() != null) {
      MDC.put("model_id", c.modelId());
    }
  }

  private void pause(long millis) {
    long t0 = System.nanoTime();
    lock.lock();
    try {
      if (!signalled) {
        wake.await(millis, TimeUnit.MILLISECONDS);
      }
      signalled = false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      running = false;
    } finally {
      lock.unlock();
      metrics.phase("idle", System.nanoTime() - t0);
    }
  }

  @Override
  public void close() {
    running = false;
    signal();
    try {
      thread.join(30_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    // What it claimed and had not run goes back to the queue now rather than after the lease.
    try {
      writeFinished();
      store.release(settings.workerId());
    } catch (SQLException e) {
      log.warn("could not release the claims of {}", settings.workerId(), e);
    }
    offLoop.shutdownNow(); // what it had not finished went back to the queue above
    executor.close();
  }
}
