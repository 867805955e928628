package dev.lathe.api.future;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.springframework.stereotype.Component;

/**
 * Wakes the long-polling {@code retrieve_future} calls of a request when it finishes: told by the
 * in-process worker, and by PostgreSQL notifications from workers anywhere ({@link
 * FinishedListener}). Each call waits for its own request only, so a finish wakes its pollers and
 * no others.
 */
@Component
public class FutureSignals {

  private final ConcurrentHashMap<String, Set<Watch>> watches = new ConcurrentHashMap<>();

  /** One poller's wait for one request; taken before the poller reads the row, so none is lost. */
  final class Watch implements AutoCloseable {
    private final String requestId;
    private boolean finished;

    private Watch(String requestId) {
      this.requestId = requestId;
    }

    /** Waits until the request finishes or the time is up. */
    synchronized void await(long millis) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
      while (!finished) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return;
        }
        TimeUnit.NANOSECONDS.timedWait(this, left);
      }
      finished = false; // a later finish (a retried request) wakes the next wait
    }

    private synchronized void wake() {
      finished = true;
      notifyAll();
    }

    @Override
    public void close() {
      watches.computeIfPresent(
          requestId,
          (id, set) -> {
            set.remove(this);
            return set.isEmpty() ? null : set;
          });
    }
  }

  Watch watch(String requestId) {
    Watch w = new Watch(requestId);
    watches.compute(
        requestId,
        (id, set) -> {
          Set<Watch> s = set != null ? set : ConcurrentHashMap.newKeySet();
          s.add(w);
          return s;
        });
    return w;
  }

  /** A request finished. */
  public void finished(String requestId) {
    Set<Watch> set = watches.get(requestId);
    if (set != null) {
      set.forEach(Watch::wake);
    }
  }
}
