package dev.lathe.worker.runtime;

import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes training runs' snapshots on a thread of its own, off the clock cycle, and at most one a
 * run per {@code interval}: a write waiting when a newer one of the same run arrives is dropped for
 * it (the newer holds everything the older did). {@link #flush} writes what a run has waiting at
 * once and returns when it is on disk, for whatever must read it back.
 *
 * <p>A step whose snapshot is still waiting is already marked done: should the worker die, the next
 * one restores the last snapshot on disk and replays the run's done forward_backward and optim_step
 * requests since, which are deterministic (Executor's disk tier). The interval bounds that replay,
 * and the cost of writing, whatever the step rate: it is the longer of a fixed minimum and {@link
 * #CYCLES} clock cycles, so that on a slow clock (a large model on a small machine, many tenants)
 * the snapshots of every run in a cycle do not take the cores the cycle needs, and a replay stays a
 * few steps a run.
 */
final class Snapshots implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Snapshots.class);

  /** One write; it frees what it holds when done, written or not. */
  interface Write {
    void write() throws IOException;

    void discard();
  }

  /** A run's snapshot is written at most once in this many clock cycles. */
  static final int CYCLES = 4;

  private final long minInterval;
  private volatile long interval;
  private final ScheduledExecutorService thread =
      Executors.newSingleThreadScheduledExecutor(
          Thread.ofPlatform().name("lathe-snapshots").daemon(true).factory());
  private final Map<String, Run> runs = new HashMap<>();
  private final Set<String> failed = new HashSet<>();
  private long failures;
  private boolean held;

  /** A run's write waiting, when its last write started, and a future of the next. */
  private static final class Run {
    Write waiting;
    long lastStart = Long.MIN_VALUE / 2;
    CompletableFuture<IOException> next; // null when nothing is waiting
    CompletableFuture<IOException> writing = CompletableFuture.completedFuture(null);
  }

  Snapshots(Duration minInterval) {
    this.minInterval = minInterval.toNanos();
    this.interval = this.minInterval;
  }

  /** The clock cycle took {@code nanos}: the interval follows it. */
  void cycle(long nanos) {
    interval = Math.max(minInterval, CYCLES * nanos);
  }

  /** How long a run's writes are apart at least, now. */
  Duration interval() {
    return Duration.ofNanos(interval);
  }

  /** Whether a write of the run is queued and has not started. */
  synchronized boolean waiting(String runId) {
    Run r = runs.get(runId);
    return r != null && r.waiting != null;
  }

  /** Queues a write of {@code runId}'s snapshot, replacing one of it that has not started. */
  synchronized void submit(String runId, Write write) {
    Run r = runs.computeIfAbsent(runId, k -> new Run());
    if (r.waiting != null) {
      r.waiting.discard();
    }
    r.waiting = write;
    if (r.next == null) {
      r.next = new CompletableFuture<>();
      long due = r.lastStart + interval - System.nanoTime();
      schedule(runId, r, Math.max(0, due));
    }
  }

  private void schedule(String runId, Run r, long delayNanos) {
    thread.schedule(() -> writeWaiting(runId, r), delayNanos, TimeUnit.NANOSECONDS);
  }

  private void writeWaiting(String runId, Run r) {
    Write w;
    CompletableFuture<IOException> done;
    boolean skip;
    synchronized (this) {
      w = r.waiting;
      done = r.next;
      r.waiting = null;
      r.next = null;
      r.lastStart = System.nanoTime();
      if (done != null) {
        r.writing = done;
      }
      skip = held;
    }
    if (w == null) {
      return; // written already, by a flush
    }
    IOException failure = null;
    try {
      if (skip) {
        w.discard();
      } else {
        w.write();
      }
    } catch (IOException | RuntimeException e) {
      failure = e instanceof IOException io ? io : new IOException(e);
      // The step stays recoverable by replay from the previous snapshot; the next one is tried
      // with the run's next step, or when the worker is idle.
      log.error("snapshot of {} could not be written: {}", runId, e.toString());
      synchronized (this) {
        failures++;
        failed.add(runId);
      }
    } finally {
      done.complete(failure);
    }
  }

  /** The runs whose last snapshot write failed since the last call; forgotten once returned. */
  synchronized Set<String> takeFailed() {
    Set<String> out = Set.copyOf(failed);
    failed.clear();
    return out;
  }

  /** Snapshot writes that failed (disk full, read-only, I/O errors). */
  synchronized long failures() {
    return failures;
  }

  /**
   * Writes the run's waiting snapshot now, if it has one, and waits until it (and one being
   * written) is on disk, or failed to be: what is on disk then is the run's last snapshot either
   * way.
   */
  void flush(String runId) {
    await(runId);
  }

  /** As {@link #flush}, and throws what made the write fail. */
  void flushOrThrow(String runId) throws IOException {
    IOException failure = await(runId);
    if (failure != null) {
      throw failure;
    }
  }

  private IOException await(String runId) {
    CompletableFuture<IOException> done;
    synchronized (this) {
      Run r = runs.get(runId);
      if (r == null) {
        return null;
      }
      done = r.writing;
      if (r.next != null) {
        done = r.next;
        schedule(runId, r, 0);
      }
    }
    return done.join();
  }

  void flushAll() {
    List<String> ids;
    synchronized (this) {
      ids = List.copyOf(runs.keySet());
    }
    ids.forEach(this::flush);
  }

  /**
   * From now on writes are dropped, as if the worker had died with them in flight (for the crash
   * tests).
   */
  synchronized void hold() {
    held = true;
  }

  @Override
  public void close() {
    flushAll();
    thread.shutdown();
  }
}
