package dev.lathe.api.future;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.springframework.stereotype.Component;

/**
 * Wakes long-polling {@code retrieve_future} calls when the in-process worker finishes a request.
 * Waiters also re-check PostgreSQL on a short timer, which covers workers in other processes.
 */
@Component
public class FutureSignals {

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition finished = lock.newCondition();

  /** A request finished. */
  public void finished(String requestId) {
    lock.lock();
    try {
      finished.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Waits until some request finishes or the time is up. */
  void await(long millis) throws InterruptedException {
    lock.lock();
    try {
      finished.await(millis, TimeUnit.MILLISECONDS);
    } finally {
      lock.unlock();
    }
  }
}
