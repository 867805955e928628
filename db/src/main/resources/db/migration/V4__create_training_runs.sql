-- A training run is one LoRA adapter on one base model (Tinker's "model_id").
CREATE TABLE training_runs (
    id              TEXT        PRIMARY KEY,
    tenant_id       TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    session_id      TEXT        REFERENCES sessions (id) ON DELETE SET NULL,
    model_seq_id    INTEGER     CHECK (model_seq_id >= 0),
    base_model      TEXT        NOT NULL,
    lora_rank       INTEGER     NOT NULL CHECK (lora_rank > 0),
    lora_config     JSONB       NOT NULL,
    user_metadata   JSONB,
    status          TEXT        NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'unloaded', 'failed')),
    current_step    INTEGER     NOT NULL DEFAULT 0 CHECK (current_step >= 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_request_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (session_id, model_seq_id)
);

CREATE INDEX training_runs_tenant_idx ON training_runs (tenant_id, created_at DESC);

-- A sampling session pins a base model or a sampler checkpoint for a series of asample calls.
CREATE TABLE sampling_sessions (
    id                      TEXT        PRIMARY KEY,
    tenant_id               TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    session_id              TEXT        REFERENCES sessions (id) ON DELETE SET NULL,
    sampling_session_seq_id INTEGER     CHECK (sampling_session_seq_id >= 0),
    base_model              TEXT        NOT NULL,
    model_path              TEXT,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (session_id, sampling_session_seq_id)
);

CREATE INDEX sampling_sessions_tenant_idx ON sampling_sessions (tenant_id);
