-- Finished requests are deleted once they are older than the retention period (futures are
-- retrievable until then), except the training steps a run's replay still needs: those after the
-- run's last snapshot on disk, whose seq_id the worker records in snapshot_seq once it is written.
-- What the deleted rows counted lives on in usage_counters, which the worker now keeps.
ALTER TABLE training_runs
    ADD COLUMN snapshot_seq INTEGER NOT NULL DEFAULT -1 CHECK (snapshot_seq >= -1);

CREATE INDEX requests_finished_idx ON requests (finished_at) WHERE status IN ('done', 'failed');

INSERT INTO usage_counters (tenant_id, bucket_start, tokens_trained, tokens_sampled, requests)
SELECT tenant_id,
       date_trunc('hour', coalesce(finished_at, created_at)),
       coalesce(sum(tokens) FILTER (WHERE status = 'done' AND kind IN ('forward_backward', 'forward')), 0),
       coalesce(sum(tokens) FILTER (WHERE status = 'done' AND kind = 'sample'), 0),
       count(*)
FROM requests
WHERE status IN ('done', 'failed')
GROUP BY 1, 2;
