-- A client session (ServiceClient). The SDK heartbeats every 10 s; models of a silent
-- session are saved and unloaded.
CREATE TABLE sessions (
    id                TEXT        PRIMARY KEY,
    tenant_id         TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    tags              TEXT[]      NOT NULL DEFAULT '{}',
    user_metadata     JSONB,
    sdk_version       TEXT,
    project_id        TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX sessions_tenant_idx ON sessions (tenant_id, created_at DESC);
CREATE INDEX sessions_heartbeat_idx ON sessions (last_heartbeat_at);
