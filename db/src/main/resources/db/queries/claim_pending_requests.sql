-- Claims up to N pending requests of one base model for one worker, oldest first.
-- SKIP LOCKED lets workers claim concurrently: a row locked by one claim is invisible to
-- the others, so every pending request is handed to exactly one worker.
-- Parameters: 1 worker_id, 2 base_model, 3 limit.
UPDATE requests
   SET status = 'running', worker_id = ?, started_at = now(), attempts = attempts + 1
 WHERE id IN (SELECT id
                FROM requests
               WHERE base_model = ? AND status = 'pending'
               ORDER BY created_at, id
               LIMIT ?
                 FOR UPDATE SKIP LOCKED)
RETURNING id, tenant_id, model_id, sampling_session_id, seq_id, kind, body
