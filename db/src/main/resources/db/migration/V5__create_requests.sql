-- The queue and the futures in one table. The api inserts a row per async call and answers
-- with its id; a worker claims pending rows of its base model (FOR UPDATE SKIP LOCKED), runs
-- them and writes the result or the error back.
CREATE TABLE requests (
    id                  TEXT        PRIMARY KEY,
    tenant_id           TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    base_model          TEXT        NOT NULL,
    model_id            TEXT        REFERENCES training_runs (id) ON DELETE CASCADE,
    sampling_session_id TEXT        REFERENCES sampling_sessions (id) ON DELETE CASCADE,
    seq_id              INTEGER     CHECK (seq_id >= 0),
    kind                TEXT        NOT NULL CHECK (kind IN (
                                        'create_model', 'unload_model', 'forward', 'forward_backward',
                                        'optim_step', 'save_weights', 'save_weights_for_sampler',
                                        'load_weights', 'sample')),
    body                JSONB       NOT NULL,
    body_sha256         BYTEA       NOT NULL CHECK (length(body_sha256) = 32),
    status              TEXT        NOT NULL DEFAULT 'pending'
                                    CHECK (status IN ('pending', 'running', 'done', 'failed')),
    result              JSONB,
    error               TEXT,
    error_category      TEXT        CHECK (error_category IN ('user', 'server', 'unknown')),
    worker_id           TEXT,
    attempts            INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    tokens              INTEGER     NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at          TIMESTAMPTZ,
    finished_at         TIMESTAMPTZ,
    -- Training steps are idempotent per (model, seq_id); sampling per (sampling session, seq_id).
    UNIQUE (model_id, seq_id),
    UNIQUE (sampling_session_id, seq_id),
    CHECK ((status = 'done') = (result IS NOT NULL)),
    CHECK ((status = 'failed') = (error IS NOT NULL AND error_category IS NOT NULL)),
    CHECK (status <> 'running' OR worker_id IS NOT NULL)
);

-- The claim query scans pending rows of one base model in arrival order.
CREATE INDEX requests_pending_idx ON requests (base_model, created_at) WHERE status = 'pending';
CREATE INDEX requests_running_idx ON requests (worker_id) WHERE status = 'running';
CREATE INDEX requests_tenant_idx ON requests (tenant_id, created_at DESC);
