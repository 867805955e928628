package dev.lathe.worker.runtime;

import ai.djl.ndarray.NDManager;
import dev.lathe.contracts.WireJson;
import dev.lathe.worker.engine.GradMode;
import dev.lathe.worker.model.BaseModel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker loop: claims the pending requests of its base model from PostgreSQL, runs each
 * training run's requests in seq_id order (a gap waits, bounded, and is never reordered around),
 * runs sampling requests as they come, and writes every result back. One thread owns the engine.
 */
public final class Worker implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Worker.class);

  /** A worker silent this long is gone: the requests it claimed are run again by others. */
  static final Duration LEASE = Duration.ofSeconds(30);

  static final Duration HEARTBEAT = Duration.ofSeconds(5);

  /**
   * @param workerId this process's id in request rows and leases
   * @param storage where adapters and checkpoints are written
   * @param gapTimeout how long a request waits for an earlier seq_id of its model
   * @param claimLimit requests claimed per round trip
   */
  public record Settings(String workerId, Path storage, Duration gapTimeout, int claimLimit) {}

  private final BaseModel base;
  private final WorkerStore store;
  private final Settings settings;
  private final Consumer<String> onFinished;
  private final Executor executor;
  private final Map<String, TreeMap<Integer, Claimed>> waiting = new HashMap<>();
  private final Map<String, Integer> lastSeq = new HashMap<>();
  private final List<Claimed> unordered = new ArrayList<>();
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition wake = lock.newCondition();
  private final Thread thread;
  private volatile boolean running = true;
  private boolean signalled;

  /**
   * @param onFinished told the id of every request this worker finishes (for long-polls)
   */
  public Worker(
      DataSource ds,
      BaseModel base,
      NDManager manager,
      Settings settings,
      Consumer<String> onFinished) {
    this.base = base;
    this.store = new WorkerStore(ds);
    this.settings = settings;
    this.onFinished = onFinished;
    this.executor = new Executor(base, manager, store, settings.storage());
    this.thread = Thread.ofPlatform().name("lathe-worker").daemon(true).unstarted(this::loop);
  }

  public Worker start() {
    thread.start();
    log.info(
        "Worker {} serves {} ({}M parameters)",
        settings.workerId(),
        base.name(),
        base.config().parameterCount() / 1_000_000);
    return this;
  }

  /** Wakes the loop: a request was just queued. */
  public void signal() {
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
    long nextHeartbeat = 0;
    while (running) {
      try {
        if (System.nanoTime() >= nextHeartbeat) {
          int reclaimed = store.heartbeat(settings.workerId(), base.name(), LEASE);
          if (reclaimed > 0) {
            log.warn("{} requests of stopped workers went back to the queue", reclaimed);
          }
          nextHeartbeat = System.nanoTime() + HEARTBEAT.toNanos();
        }
        List<Claimed> claimed =
            store.claim(settings.workerId(), base.name(), settings.claimLimit());
        for (Claimed c : claimed) {
          if (c.ordered()) {
            waiting.computeIfAbsent(c.modelId(), k -> new TreeMap<>()).put(c.seqId(), c);
          } else {
            unordered.add(c);
          }
        }
        boolean ran = runReady();
        if (claimed.isEmpty() && !ran) {
          pause(waiting.isEmpty() ? 200 : 20);
        }
      } catch (Exception e) {
        log.error("worker loop failed; retrying", e);
        pause(1000);
      }
    }
  }

  private boolean runReady() throws Exception {
    boolean ran = false;
    for (Iterator<Claimed> it = unordered.iterator(); it.hasNext(); ) {
      Claimed c = it.next();
      it.remove();
      run(c);
      ran = true;
    }
    for (Iterator<Map.Entry<String, TreeMap<Integer, Claimed>>> models =
            waiting.entrySet().iterator();
        models.hasNext(); ) {
      Map.Entry<String, TreeMap<Integer, Claimed>> e = models.next();
      TreeMap<Integer, Claimed> queue = e.getValue();
      int last = lastSeq.computeIfAbsent(e.getKey(), this::storedLastSeq);
      while (!queue.isEmpty()) {
        Claimed head = queue.firstEntry().getValue();
        boolean next = head.seqId() == last + 1 || head.kind().equals("create_model");
        boolean late = head.seqId() <= last;
        boolean gapExpired =
            System.nanoTime() - head.claimedAtNanos() > settings.gapTimeout().toNanos();
        if (late) {
          queue.pollFirstEntry();
          fail(
              head,
              "seq_id " + head.seqId() + " arrived after seq_id " + last + " had run",
              "user");
        } else if (next || gapExpired) {
          queue.pollFirstEntry();
          if (!next) {
            log.warn(
                "model {}: seq_id {} ran after waiting {} for seq_id {}",
                e.getKey(),
                head.seqId(),
                settings.gapTimeout(),
                last + 1);
          }
          run(head);
          last = head.seqId();
          lastSeq.put(e.getKey(), last);
          ran = true;
        } else {
          break;
        }
      }
      if (queue.isEmpty()) {
        models.remove();
      }
    }
    return ran;
  }

  private int storedLastSeq(String modelId) {
    try {
      return store.run(modelId).map(WorkerStore.Run::lastSeqId).orElse(-1);
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  private void run(Claimed c) throws java.sql.SQLException {
    try {
      Executor.Outcome out = executor.execute(c);
      store.complete(c, WireJson.mapper().valueToTree(out.result()), out.tokens());
    } catch (UserError e) {
      fail(c, e.getMessage(), "user");
      return;
    } catch (Exception e) {
      log.error("request {} ({}) failed", c.id(), c.kind(), e);
      fail(c, c.kind() + " failed on the server: " + e, "server");
      return;
    }
    onFinished.accept(c.id());
  }

  private void fail(Claimed c, String error, String category) throws java.sql.SQLException {
    store.fail(c, error, category);
    onFinished.accept(c.id());
  }

  private void pause(long millis) {
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
      store.release(settings.workerId());
    } catch (java.sql.SQLException e) {
      log.warn("could not release the claims of {}", settings.workerId(), e);
    }
    executor.close();
  }
}
