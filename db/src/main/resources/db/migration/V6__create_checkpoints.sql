-- Saved adapter state: 'weights' (adapter + optimizer, resumable) or 'sampler_weights'
-- (adapter only). tinker://<training_run_id>/<kind>/<name> names one.
CREATE TABLE checkpoints (
    id              BIGSERIAL   PRIMARY KEY,
    tenant_id       TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    training_run_id TEXT        NOT NULL REFERENCES training_runs (id) ON DELETE CASCADE,
    kind            TEXT        NOT NULL CHECK (kind IN ('weights', 'sampler_weights')),
    name            TEXT        NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,128}$'),
    storage_path    TEXT        NOT NULL,
    size_bytes      BIGINT      NOT NULL CHECK (size_bytes >= 0),
    step            INTEGER     NOT NULL CHECK (step >= 0),
    published       BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ,
    UNIQUE (training_run_id, kind, name)
);

CREATE INDEX checkpoints_tenant_idx ON checkpoints (tenant_id, created_at DESC);
CREATE INDEX checkpoints_expiry_idx ON checkpoints (expires_at) WHERE expires_at IS NOT NULL;
