package dev.lathe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Crash safety: a worker stopped between steps, or after a forward_backward whose gradient lived
 * only in its memory, or after a step's snapshot but before the step was marked done, is replaced
 * by a new worker that finishes the run; the adapter ends exactly as an uninterrupted run's, and no
 * step is applied twice.
 */
class WorkerRecoveryTest extends WorkerHarness {

  @Test
  void aReplacedWorkerFinishesTheRunExactlyAsOneWithoutCrashes() throws Exception {
    String reference = reference("ref:train:0", 6);

    String model = run("crash:train:0");
    try (Worker first = worker()) {
      for (int seq = 1; seq <= 3; seq++) {
        step(model, seq);
      }
      awaitDone(model, 3); // a step done, and a gradient that lives only in this worker's memory
    }
    try (Worker second = worker()) {
      for (int seq = 4; seq <= 6; seq++) {
        step(model, seq);
      }
      awaitDone(model, 6);
    }
    assertThat(differences(adapter(model), adapter(reference))).isEmpty();

    // The last step ran and was snapshotted, but its worker died before marking it done.
    String result =
        jdbc.queryForObject(
            "SELECT result::text FROM requests WHERE id = ?", String.class, model + "/6");
    jdbc.update(
        "UPDATE requests SET status = 'running', result = NULL, finished_at = NULL, worker_id = 'gone'"
            + " WHERE id = ?",
        model + "/6");
    // The run's progress is written in the same transaction as "done", so it rolled back too.
    jdbc.update("UPDATE training_runs SET last_seq_id = 5 WHERE id = ?", model);
    try (Worker third = worker()) {
      awaitDone(model, 6);
    }
    assertThat(
            jdbc.queryForObject(
                "SELECT result::text FROM requests WHERE id = ?", String.class, model + "/6"))
        .isEqualTo(result);
    assertThat(adapter(model))
        .as("the step was not applied twice")
        .containsExactlyEntriesOf(adapter(reference));
    assertThat(
            jdbc.queryForObject(
                "SELECT max(attempts) FROM requests WHERE id = ?", Integer.class, model + "/6"))
        .isEqualTo(2);
    assertThat(Files.exists(storage)).isTrue();
  }

  /**
   * Steps are marked done before their snapshots are written (off the clock cycle): a worker that
   * dies with its snapshots still in flight loses none, since the next one restores the last
   * snapshot on disk and replays the done forward_backward and optim_step requests since. LoRA and
   * DoRA alike.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void aWorkerThatDiesWithSnapshotsInFlightLosesNoStep(boolean dora) throws Exception {
    String reference = reference("ref2-" + dora + ":train:0", 8, dora);

    String model = run("tnt", "inflight-" + dora + ":train:0", 8, dora);
    try (Worker first = worker()) {
      awaitDone(model, 0); // create_model's snapshot is written before it is done
      first.holdSnapshots();
      for (int seq = 1; seq <= 6; seq++) {
        step(model, seq);
      }
      awaitDone(model, 6); // three steps done, none of their snapshots on disk
    }
    assertThat(
            jdbc.queryForObject(
                "SELECT count(*) FROM requests WHERE model_id = ? AND status = 'done'",
                Integer.class,
                model))
        .isEqualTo(7);
    try (Worker second = worker()) {
      for (int seq = 7; seq <= 8; seq++) {
        step(model, seq);
      }
      awaitDone(model, 8);
    }
    assertThat(differences(adapter(model), adapter(reference))).isEmpty();
    assertThat(result(model, 6)).isEqualTo(result(reference, 6));
  }

  /**
   * Finished requests past their retention go, but never a done training step after the run's last
   * snapshot on disk: a worker that dies with its later snapshots unwritten is replaced and the run
   * still ends exactly where one without crashes does. What the deleted rows counted stays in the
   * tenant's usage.
   */
  @Test
  void pruningTheRequestLogKeepsWhatAReplayNeeds() throws Exception {
    String reference = reference("ref3:train:0", 8);

    String model = run("tnt-pruned", "pruned:train:0", 8);
    WorkerStore store = new WorkerStore(ds);
    try (Worker first = worker()) {
      for (int seq = 1; seq <= 4; seq++) {
        step(model, seq);
      }
      awaitDone(model, 4);
      for (int i = 0; i < 100 && snapshotSeq(model) < 4; i++) {
        Thread.sleep(100); // the snapshot thread writes it within its interval
      }
      assertThat(snapshotSeq(model)).isEqualTo(4);
      first.holdSnapshots();
      for (int seq = 5; seq <= 6; seq++) {
        step(model, seq);
      }
      awaitDone(model, 6); // steps 5 and 6 done, on disk only in the log
      long trained =
          jdbc.queryForObject(
              "SELECT sum(tokens) FROM requests WHERE model_id = ? AND kind = 'forward_backward'",
              Long.class,
              model);

      assertThat(store.prune(java.time.Duration.ZERO, 1000)).isGreaterThanOrEqualTo(5);
      assertThat(
              jdbc.queryForList(
                  "SELECT seq_id FROM requests WHERE model_id = ? ORDER BY seq_id",
                  Integer.class,
                  model))
          .containsExactly(5, 6);
      assertThat(
              jdbc.queryForMap(
                  "SELECT sum(tokens_trained) AS trained, sum(requests) AS requests"
                      + " FROM usage_counters WHERE tenant_id = 'tnt-pruned'"))
          .containsEntry("trained", java.math.BigDecimal.valueOf(trained))
          .containsEntry("requests", java.math.BigDecimal.valueOf(7));
    }
    try (Worker second = worker()) {
      for (int seq = 7; seq <= 8; seq++) {
        step(model, seq);
      }
      awaitDone(model, 8);
    }
    assertThat(differences(adapter(model), adapter(reference))).isEmpty();
    assertThat(store.prune(java.time.Duration.ofHours(1), 1000)).isZero(); // nothing is old yet
  }

  private int snapshotSeq(String model) {
    return jdbc.queryForObject(
        "SELECT snapshot_seq FROM training_runs WHERE id = ?", Integer.class, model);
  }

  /** A run that takes {@code steps} requests (seq 1 on) on a worker of its own, with no crash. */
  private String reference(String id, int steps) throws InterruptedException {
    return reference(id, steps, false);
  }

  private String reference(String id, int steps, boolean dora) throws InterruptedException {
    String reference = run("tnt", id, 8, dora);
    try (Worker w = worker()) {
      for (int seq = 1; seq <= steps; seq++) {
        step(reference, seq);
      }
      awaitDone(reference, steps);
    }
    return reference;
  }
}
