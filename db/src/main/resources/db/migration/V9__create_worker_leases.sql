-- A worker process holds one base model through a lease it renews by heartbeat. A lease past
-- expires_at may be taken over; the requests its worker had claimed go back to pending.
CREATE TABLE worker_leases (
    worker_id    TEXT        PRIMARY KEY,
    base_model   TEXT        NOT NULL,
    hostname     TEXT,
    device       TEXT,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    stats        JSONB       NOT NULL DEFAULT '{}',
    CHECK (expires_at > heartbeat_at)
);

CREATE INDEX worker_leases_model_idx ON worker_leases (base_model, expires_at);
