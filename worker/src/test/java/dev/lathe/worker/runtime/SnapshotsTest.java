package dev.lathe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The snapshot thread's spacing of one run's writes: its minimum, or clock cycles if longer. */
class SnapshotsTest {

  @Test
  void aRunsWritesAreAtLeastTheMinimumOrFourCyclesApart() throws Exception {
    try (Snapshots snapshots = new Snapshots(Duration.ofMillis(50))) {
      assertThat(snapshots.interval()).isEqualTo(Duration.ofMillis(50));
      assertThat(gapBetweenTwoWrites(snapshots, "fast")).isGreaterThanOrEqualTo(50);

      snapshots.cycle(Duration.ofMillis(5).toNanos()); // 4 cycles are shorter than the minimum
      assertThat(snapshots.interval()).isEqualTo(Duration.ofMillis(50));

      snapshots.cycle(Duration.ofMillis(100).toNanos());
      assertThat(snapshots.interval()).isEqualTo(Duration.ofMillis(400));
      assertThat(gapBetweenTwoWrites(snapshots, "slow")).isGreaterThanOrEqualTo(400);
    }
  }

  /** Milliseconds between a new run's first write and a second submitted right after it. */
  private static long gapBetweenTwoWrites(Snapshots snapshots, String run) throws Exception {
    List<Long> written = new CopyOnWriteArrayList<>();
    Semaphore done = new Semaphore(0);
    Snapshots.Write write =
        new Snapshots.Write() {
          @Override
          public void write() {
            written.add(System.nanoTime());
            done.release();
          }

          @Override
          public void discard() {}
        };
    snapshots.submit(run, write);
    assertThat(done.tryAcquire(5, TimeUnit.SECONDS)).as("first write").isTrue();
    snapshots.submit(run, write); // waits for its turn on the snapshot thread
    assertThat(done.tryAcquire(5, TimeUnit.SECONDS)).as("second write").isTrue();
    return (written.get(1) - written.get(0)) / 1_000_000;
  }
}
