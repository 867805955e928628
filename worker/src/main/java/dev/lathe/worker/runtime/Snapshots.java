package dev.lathe.worker.runtime;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes training runs' snapshots on a thread of its own, off the clock cycle. Per run the writes
 * keep their order, and a write still waiting when a newer one of the same run arrives is dropped
 * for it (the newer holds everything the older did). {@link #flush} waits until a run's latest
 * write is on disk, for whatever must read it back.
 *
 * <p>A step whose snapshot is still in flight is already marked done: should the worker die, the
 * next one restores the last snapshot on disk and replays the run's done forward_backward and
 * optim_step requests since, which are deterministic (Executor's disk tier).
 */
final class Snapshots implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Snapshots.class);

  /** One write; it closes what it holds when done, written or not. */
  interface Write {
    void write() throws IOException;

    void discard();
  }

  private final ExecutorService thread =
      Executors.newSingleThreadExecutor(
          Thread.ofPlatform().name("lathe-snapshots").daemon(true).factory());
  private final Map<String, Run> runs = new HashMap<>();
  private boolean held;

  /** A run's writes: the one waiting, and when the last submitted is done. */
  private static final class Run {
    Write waiting;
    CompletableFuture<Void> done = CompletableFuture.completedFuture(null);
  }

  /** Queues a write of {@code runId}'s snapshot, replacing one of it that has not started. */
  synchronized void submit(String runId, Write write) {
    Run r = runs.computeIfAbsent(runId, k -> new Run());
    if (r.waiting != null) {
      r.waiting.discard();
      r.waiting = write;
      return;
    }
    r.waiting = write;
    r.done = r.done.thenRunAsync(() -> writeNext(runId, r), thread);
  }

  private void writeNext(String runId, Run r) {
    Write w;
    boolean skip;
    synchronized (this) {
      w = r.waiting;
      r.waiting = null;
      skip = held;
    }
    if (skip) {
      w.discard();
      return;
    }
    try {
      w.write();
    } catch (IOException | RuntimeException e) {
      // The step stays recoverable by replay from the previous snapshot.
      log.error("snapshot of {} could not be written", runId, e);
    }
  }

  /** Waits until every write of the run submitted so far is done. */
  void flush(String runId) {
    CompletableFuture<Void> done;
    synchronized (this) {
      Run r = runs.get(runId);
      done = r == null ? null : r.done;
    }
    if (done != null) {
      done.join();
    }
  }

  void flushAll() {
    CompletableFuture<?>[] all;
    synchronized (this) {
      all = runs.values().stream().map(r -> r.done).toArray(CompletableFuture[]::new);
    }
    CompletableFuture.allOf(all).join();
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
