-- Claims pending requests of one base model for one worker, oldest first and at most N per
-- tenant, so that a tenant with a deep queue cannot crowd the others out of a worker's claim.
-- SKIP LOCKED lets workers claim concurrently: a row locked by one claim is invisible to
-- the others, so every pending request is handed to exactly one worker.
-- Parameters: 1 worker_id, 2 base_model, 3 tenants to skip (text[]: the worker already holds
-- enough of their requests), 4 limit per tenant.
-- Times are clock_timestamp(), not now(): this statement's transaction may have started before
-- the transaction that inserted a row it claims (both start before this statement's snapshot), so
-- now() - created_at could come out negative.
WITH p AS (SELECT ?::text AS worker_id, ?::text AS base_model, ?::text[] AS skip),
     tenants AS (SELECT DISTINCT r.tenant_id
                   FROM requests r, p
                  WHERE r.base_model = p.base_model AND r.status = 'pending'
                    AND r.tenant_id <> ALL (p.skip)),
     picked AS (SELECT c.id
                  FROM tenants t, p
                  CROSS JOIN LATERAL (SELECT r.id
                                        FROM requests r
                                       WHERE r.base_model = p.base_model AND r.status = 'pending'
                                         AND r.tenant_id = t.tenant_id
                                       ORDER BY r.created_at, r.id
                                       LIMIT ?
                                         FOR UPDATE SKIP LOCKED) c)
UPDATE requests
   SET status = 'running', worker_id = p.worker_id, started_at = clock_timestamp(),
       attempts = attempts + 1
  FROM p
 WHERE requests.id IN (SELECT id FROM picked)
RETURNING requests.id, requests.tenant_id, requests.model_id, requests.sampling_session_id,
          requests.seq_id, requests.kind, requests.body,
          EXTRACT(EPOCH FROM clock_timestamp() - requests.created_at) AS waited_seconds
