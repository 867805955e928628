package dev.lathe.worker.runtime;

import dev.lathe.contracts.WireJson;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import javax.sql.DataSource;
import tools.jackson.databind.JsonNode;

/** The worker's side of PostgreSQL: claiming requests, writing results, and the rows they add. */
public final class WorkerStore {

  private static final String CLAIM = resource("/db/queries/claim_pending_requests.sql");

  private final DataSource ds;

  public WorkerStore(DataSource ds) {
    this.ds = ds;
  }

  /** A training run as the worker needs it. */
  public record Run(
      String id,
      String tenantId,
      String sessionId,
      String baseModel,
      JsonNode loraConfig,
      long seed,
      int lastSeqId,
      int step,
      String status) {}

  /** A saved checkpoint's owner and files. */
  public record Checkpoint(
      String tenantId, String trainingRunId, String kind, String name, String storagePath) {}

  /**
   * Claims pending requests of a base model, at most {@code perTenant} of each tenant and none of
   * the tenants in {@code skip}.
   */
  List<Claimed> claim(String workerId, String baseModel, List<String> skip, int perTenant)
      throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement st = c.prepareStatement(CLAIM)) {
      st.setString(1, workerId);
      st.setString(2, baseModel);
      st.setArray(3, c.createArrayOf("text", skip.toArray()));
      st.setInt(4, perTenant);
      List<Claimed> out = new ArrayList<>();
      long now = System.nanoTime();
      try (ResultSet rs = st.executeQuery()) {
        while (rs.next()) {
          int seq = rs.getInt("seq_id");
          Integer seqId = rs.wasNull() ? null : seq;
          out.add(
              new Claimed(
                  rs.getString("id"),
                  rs.getString("tenant_id"),
                  rs.getString("model_id"),
                  rs.getString("sampling_session_id"),
                  seqId,
                  rs.getString("kind"),
                  WireJson.mapper().readTree(rs.getString("body")),
                  now,
                  java.time.Duration.ofNanos((long) (rs.getDouble("waited_seconds") * 1e9))));
        }
      }
      return out;
    }
  }

  /**
   * How a request ended: done with its result (JSON) and tokens, or failed with an error and its
   * category; an optim_step or a probing forward also carries what to record of the run's step.
   */
  record Finished(
      Claimed request, String result, int tokens, String error, String category, StepRecord step) {

    static Finished done(Claimed r, String result, int tokens, StepRecord step) {
      return new Finished(r, result, tokens, null, null, step);
    }

    static Finished failed(Claimed r, String error, String category) {
      return new Finished(r, null, 0, error, category, null);
    }
  }

  /** What a request records in its run's row of step_metrics for one step. */
  sealed interface StepRecord permits Step, Probe {}

  /** An optimizer step of a run: its metrics row, and the run's current step. */
  record Step(String modelId, int step, double loss, double gradNorm, double lr, long tokens)
      implements StepRecord {}

  /**
   * A forward's KL from the base model, summed over its {@code tokens}, measured on the adapter
   * after {@code step} optimizer steps; added to what other probes of that step measured.
   */
  record Probe(String modelId, int step, double klSum, long tokens) implements StepRecord {}

  /**
   * Writes how the requests ended, in one transaction whatever their number (a clock cycle's
   * results): each request's row, its run's seq, the steps taken, and a notification per request
   * (long-polls on any api process wake on it, delivered at commit). A row no longer running (taken
   * back by another worker) is left alone.
   */
  void finish(List<Finished> finished) throws SQLException {
    if (finished.isEmpty()) {
      return;
    }
    try (Connection c = ds.getConnection()) {
      c.setAutoCommit(false);
      try (PreparedStatement done =
              c.prepareStatement(
                  "UPDATE requests SET status = 'done', result = ?::jsonb, tokens = ?,"
                      + " finished_at = now() WHERE id = ? AND status = 'running'");
          PreparedStatement failed =
              c.prepareStatement(
                  "UPDATE requests SET status = 'failed', error = ?, error_category = ?,"
                      + " finished_at = now() WHERE id = ? AND status = 'running'");
          PreparedStatement seq =
              c.prepareStatement(
                  "UPDATE training_runs SET last_seq_id = GREATEST(last_seq_id, ?),"
                      + " last_request_at = now() WHERE id = ?");
          PreparedStatement current =
              c.prepareStatement(
                  "UPDATE training_runs SET current_step = ?, snapshot_step = ? WHERE id = ?");
          PreparedStatement metrics =
              c.prepareStatement(
                  "INSERT INTO step_metrics (training_run_id, step, loss, grad_norm,"
                      + " learning_rate, tokens) VALUES (?, ?, ?, ?, ?, ?)"
                      + " ON CONFLICT (training_run_id, step) DO UPDATE SET loss = EXCLUDED.loss,"
                      + " grad_norm = EXCLUDED.grad_norm, learning_rate = EXCLUDED.learning_rate,"
                      + " tokens = EXCLUDED.tokens");
          PreparedStatement probe =
              c.prepareStatement(
                  "INSERT INTO step_metrics (training_run_id, step, kl_from_base_sum,"
                      + " kl_from_base_tokens) VALUES (?, ?, ?, ?) ON CONFLICT (training_run_id,"
                      + " step) DO UPDATE SET kl_from_base_sum ="
                      + " COALESCE(step_metrics.kl_from_base_sum, 0) + EXCLUDED.kl_from_base_sum,"
                      + " kl_from_base_tokens = step_metrics.kl_from_base_tokens"
                      + " + EXCLUDED.kl_from_base_tokens");
          PreparedStatement usage =
              c.prepareStatement(
                  "INSERT INTO usage_counters (tenant_id, bucket_start, tokens_trained,"
                      + " tokens_sampled, requests) VALUES (?, date_trunc('hour', now()), ?, ?, ?)"
                      + " ON CONFLICT (tenant_id, bucket_start) DO UPDATE SET tokens_trained ="
                      + " usage_counters.tokens_trained + EXCLUDED.tokens_trained, tokens_sampled ="
                      + " usage_counters.tokens_sampled + EXCLUDED.tokens_sampled, requests ="
                      + " usage_counters.requests + EXCLUDED.requests");
          PreparedStatement notify =
              c.prepareStatement("SELECT pg_notify(?, id) FROM unnest(?::text[]) AS id")) {
        List<Finished> doneRows = new ArrayList<>();
        List<Finished> failedRows = new ArrayList<>();
        for (Finished f : finished) {
          Claimed r = f.request();
          if (f.error() == null) {
            done.setString(1, f.result());
            done.setInt(2, f.tokens());
            done.setString(3, r.id());
            done.addBatch();
            doneRows.add(f);
          } else {
            failed.setString(1, f.error());
            failed.setString(2, f.category());
            failed.setString(3, r.id());
            failed.addBatch();
            failedRows.add(f);
          }
          if (r.ordered()) {
            seq.setInt(1, r.seqId());
            seq.setString(2, r.modelId());
            seq.addBatch();
          }
          if (f.step() instanceof Probe pr) {
            probe.setString(1, pr.modelId());
            probe.setInt(2, pr.step());
            probe.setDouble(3, pr.klSum());
            probe.setLong(4, pr.tokens());
            probe.addBatch();
          }
          if (f.step() instanceof Step s) {
            current.setInt(1, s.step());
            current.setInt(2, s.step());
            current.setString(3, s.modelId());
            current.addBatch();
            metrics.setString(1, s.modelId());
            metrics.setInt(2, s.step());
            metrics.setObject(3, Double.isNaN(s.loss()) ? null : s.loss());
            metrics.setDouble(4, s.gradNorm());
            metrics.setDouble(5, s.lr());
            metrics.setLong(6, s.tokens());
            metrics.addBatch();
          }
        }
        // An empty batch executes nothing.
        Map<String, long[]> counted = new TreeMap<>(); // by tenant, in one order: no deadlocks
        count(counted, doneRows, done.executeBatch());
        count(counted, failedRows, failed.executeBatch());
        for (var e : counted.entrySet()) {
          usage.setString(1, e.getKey());
          usage.setLong(2, e.getValue()[0]);
          usage.setLong(3, e.getValue()[1]);
          usage.setLong(4, e.getValue()[2]);
          usage.addBatch();
        }
        usage.executeBatch();
        seq.executeBatch();
        current.executeBatch();
        metrics.executeBatch();
        probe.executeBatch();
        notify.setString(1, FINISHED_CHANNEL);
        notify.setArray(
            2,
            c.createArrayOf(
                "text", finished.stream().map(f -> f.request().id()).toArray(String[]::new)));
        notify.execute();
      }
      c.commit();
    }
  }

  /**
   * Adds what the rows a batch changed (those still running: {@code updated[i] == 1}) count to
   * their tenants' usage: tokens trained, tokens sampled, requests.
   */
  private static void count(Map<String, long[]> counted, List<Finished> rows, int[] updated) {
    for (int i = 0; i < rows.size(); i++) {
      if (updated[i] != 1) {
        continue;
      }
      Finished f = rows.get(i);
      long[] c = counted.computeIfAbsent(f.request().tenantId(), t -> new long[3]);
      switch (f.request().kind()) {
        case "forward", "forward_backward" -> c[0] += f.tokens();
        case "sample" -> c[1] += f.tokens();
        default -> {}
      }
      c[2]++;
    }
  }

  /** Records that a run's snapshot after {@code seq} is on disk: replay starts after it. */
  void snapshotWritten(String modelId, int seq) throws SQLException {
    try (Connection c = ds.getConnection()) {
      update(
          c,
          "UPDATE training_runs SET snapshot_seq = GREATEST(snapshot_seq, ?) WHERE id = ?",
          seq,
          modelId);
    }
  }

  /**
   * Deletes up to {@code limit} requests finished longer than {@code retention} ago, keeping every
   * done training step after its run's last snapshot on disk (a crash replays them).
   *
   * @return the requests deleted
   */
  int prune(java.time.Duration retention, int limit) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement st =
            c.prepareStatement(
                "DELETE FROM requests WHERE id IN (SELECT r.id FROM requests r"
                    + " LEFT JOIN training_runs t ON t.id = r.model_id"
                    + " WHERE r.status IN ('done', 'failed')"
                    + " AND r.finished_at < now() - make_interval(secs => ?)"
                    + " AND NOT (r.status = 'done' AND r.kind IN ('forward_backward', 'optim_step')"
                    + " AND r.seq_id > coalesce(t.snapshot_seq, -1))"
                    + " LIMIT ?)")) {
      st.setDouble(1, retention.toMillis() / 1000.0);
      st.setInt(2, limit);
      return st.executeUpdate();
    }
  }

  /** The PostgreSQL channel a request's id is notified on when it finishes. */
  public static final String FINISHED_CHANNEL = "lathe_finished";

  Optional<Run> run(String modelId) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement st =
            c.prepareStatement(
                "SELECT id, tenant_id, session_id, base_model, lora_config, lora_seed, last_seq_id,"
                    + " current_step, status FROM training_runs WHERE id = ?")) {
      st.setString(1, modelId);
      try (ResultSet rs = st.executeQuery()) {
        if (!rs.next()) {
          return Optional.empty();
        }
        return Optional.of(
            new Run(
                rs.getString("id"),
                rs.getString("tenant_id"),
                rs.getString("session_id"),
                rs.getString("base_model"),
                WireJson.mapper().readTree(rs.getString("lora_config")),
                rs.getLong("lora_seed"),
                rs.getInt("last_seq_id"),
                rs.getInt("current_step"),
                rs.getString("status")));
      }
    }
  }

  /** The done forward_backward requests of a run after a seq_id, in order: for replay. */
  /** A done request of a run's log: what a replay needs of it. */
  record Logged(int seqId, String kind, JsonNode body, JsonNode result) {}

  /**
   * The done forward_backward and optim_step requests of a run after {@code afterSeq}, in seq_id
   * order: what changed its adapter since a snapshot.
   */
  List<Logged> doneTrainingSteps(String modelId, int afterSeq) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement st =
            c.prepareStatement(
                "SELECT seq_id, kind, body, result FROM requests WHERE model_id = ?"
                    + " AND kind IN ('forward_backward', 'optim_step') AND status = 'done'"
                    + " AND seq_id > ? ORDER BY seq_id")) {
      st.setString(1, modelId);
      st.setInt(2, afterSeq);
      List<Logged> out = new ArrayList<>();
      try (ResultSet rs = st.executeQuery()) {
        while (rs.next()) {
          out.add(
              new Logged(
                  rs.getInt(1),
                  rs.getString(2),
                  WireJson.mapper().readTree(rs.getString(3)),
                  WireJson.mapper().readTree(rs.getString(4))));
        }
      }
      return out;
    }
  }

  /**
   * Renews this worker's lease on its base model and hands back to the queue every request that a
   * worker without a live lease had claimed (it died or stopped mid-request).
   *
   * @return how many requests went back to pending
   */
  int heartbeat(String workerId, String baseModel, java.time.Duration ttl, String statsJson)
      throws SQLException {
    try (Connection c = ds.getConnection()) {
      update(
          c,
          "INSERT INTO worker_leases (worker_id, base_model, hostname, expires_at, stats)"
              + " VALUES (?, ?, ?, now() + make_interval(secs => ?), ?::jsonb)"
              + " ON CONFLICT (worker_id) DO UPDATE"
              + " SET heartbeat_at = now(), expires_at = EXCLUDED.expires_at, stats = EXCLUDED.stats",
          workerId,
          baseModel,
          hostname(),
          (double) ttl.toSeconds(),
          statsJson);
      try (PreparedStatement st =
          c.prepareStatement(
              "UPDATE requests r SET status = 'pending', worker_id = NULL, started_at = NULL"
                  + " WHERE r.status = 'running' AND r.base_model = ? AND r.worker_id <> ?"
                  + " AND NOT EXISTS (SELECT 1 FROM worker_leases l WHERE l.worker_id = r.worker_id"
                  + " AND l.expires_at > now())")) {
        st.setString(1, baseModel);
        st.setString(2, workerId);
        return st.executeUpdate();
      }
    }
  }

  /**
   * A clean stop, or a start under an id that ran before: the worker's unfinished claims return to
   * the queue and its lease ends.
   *
   * @return the requests returned to the queue
   */
  int release(String workerId) throws SQLException {
    try (Connection c = ds.getConnection()) {
      int released =
          update(
              c,
              "UPDATE requests SET status = 'pending', worker_id = NULL, started_at = NULL"
                  + " WHERE status = 'running' AND worker_id = ?",
              workerId);
      update(c, "DELETE FROM worker_leases WHERE worker_id = ?", workerId);
      return released;
    }
  }

  /** Of the given active training runs, those whose session is silent for longer than {@code d}. */
  List<String> silentRuns(java.util.Collection<String> modelIds, java.time.Duration d)
      throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement st =
            c.prepareStatement(
                "SELECT r.id FROM training_runs r JOIN sessions s ON s.id = r.session_id"
                    + " WHERE r.id = ANY (?) AND r.status = 'active'"
                    + " AND s.last_heartbeat_at < now() - make_interval(secs => ?)")) {
      st.setArray(1, c.createArrayOf("text", modelIds.toArray()));
      st.setDouble(2, d.toMillis() / 1000.0);
      List<String> out = new ArrayList<>();
      try (ResultSet rs = st.executeQuery()) {
        while (rs.next()) {
          out.add(rs.getString(1));
        }
      }
      return out;
    }
  }

  void setStatus(String modelId, String status) throws SQLException {
    try (Connection c = ds.getConnection()) {
      update(c, "UPDATE training_runs SET status = ? WHERE id = ?", status, modelId);
    }
  }

  /** Records a saved checkpoint, replacing one of the same name. */
  void saveCheckpoint(
      Run run, String kind, String name, String storagePath, long bytes, Long ttlSeconds)
      throws SQLException {
    try (Connection c = ds.getConnection()) {
      update(
          c,
          "INSERT INTO checkpoints (tenant_id, training_run_id, kind, name, storage_path, size_bytes,"
              + " step, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?,"
              + " CASE WHEN ?::bigint IS NULL THEN NULL ELSE now() + make_interval(secs => ?::bigint) END)"
              + " ON CONFLICT (training_run_id, kind, name) DO UPDATE SET storage_path ="
              + " EXCLUDED.storage_path, size_bytes = EXCLUDED.size_bytes, step = EXCLUDED.step,"
              + " created_at = now(), expires_at = EXCLUDED.expires_at",
          run.tenantId(),
          run.id(),
          kind,
          name,
          storagePath,
          bytes,
          run.step(),
          ttlSeconds,
          ttlSeconds);
    }
  }

  /** Sets a checkpoint's size, as its files are now (a merged export added to them). */
  void checkpointSize(Checkpoint ckpt, long bytes) throws SQLException {
    try (Connection c = ds.getConnection()) {
      update(
          c,
          "UPDATE checkpoints SET size_bytes = ? WHERE training_run_id = ? AND kind = ? AND name = ?",
          bytes,
          ckpt.trainingRunId(),
          ckpt.kind(),
          ckpt.name());
    }
  }

  boolean checkpointExists(String runId, String kind, String name) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement st =
            c.prepareStatement(
                "SELECT 1 FROM checkpoints WHERE training_run_id = ? AND kind = ? AND name = ?")) {
      st.setString(1, runId);
      st.setString(2, kind);
      st.setString(3, name);
      try (ResultSet rs = st.executeQuery()) {
        return rs.next();
      }
    }
  }

  /** A checkpoint by tinker path parts, only if the tenant owns it or it is published. */
  Optional<Checkpoint> checkpoint(String tenantId, String runId, String kind, String name)
      throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement st =
            c.prepareStatement(
                "SELECT tenant_id, storage_path FROM checkpoints WHERE training_run_id = ? AND kind = ?"
                    + " AND name = ? AND (tenant_id = ? OR published)"
                    + " AND (expires_at IS NULL OR expires_at > now())")) {
      st.setString(1, runId);
      st.setString(2, kind);
      st.setString(3, name);
      st.setString(4, tenantId);
      try (ResultSet rs = st.executeQuery()) {
        return rs.next()
            ? Optional.of(new Checkpoint(rs.getString(1), runId, kind, name, rs.getString(2)))
            : Optional.empty();
      }
    }
  }

  /** Creates (or finds) the sampling session of a training client's sampler save. */
  String samplingSession(Run run, int samplingSessionSeqId, String modelPath) throws SQLException {
    try (Connection c = ds.getConnection()) {
      String id = run.sessionId() + ":sample:" + samplingSessionSeqId;
      update(
          c,
          "INSERT INTO sampling_sessions (id, tenant_id, session_id, sampling_session_seq_id,"
              + " base_model, model_path) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE"
              + " SET model_path = EXCLUDED.model_path",
          id,
          run.tenantId(),
          run.sessionId(),
          samplingSessionSeqId,
          run.baseModel(),
          modelPath);
      return id;
    }
  }

  /** A sampling session's model path (null for the base model). */
  Optional<String> samplingSessionPath(String id) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement st =
            c.prepareStatement("SELECT model_path FROM sampling_sessions WHERE id = ?")) {
      st.setString(1, id);
      try (ResultSet rs = st.executeQuery()) {
        return rs.next() ? Optional.ofNullable(rs.getString(1)) : Optional.empty();
      }
    }
  }

  private static String hostname() {
    String env = System.getenv("HOSTNAME");
    if (env != null && !env.isBlank()) {
      return env;
    }
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.net.UnknownHostException e) {
      return "unknown";
    }
  }

  private static int update(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement st = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) {
        st.setObject(i + 1, args[i]);
      }
      return st.executeUpdate();
    }
  }

  private static String resource(String path) {
    try (InputStream in = WorkerStore.class.getResourceAsStream(path)) {
      if (in == null) {
        throw new IllegalStateException(path + " is missing from the classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
