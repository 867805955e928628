-- Usage per tenant and hour, upserted by the worker as requests finish.
CREATE TABLE usage_counters (
    tenant_id      TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bucket_start   TIMESTAMPTZ NOT NULL CHECK (bucket_start = date_trunc('hour', bucket_start)),
    tokens_trained BIGINT      NOT NULL DEFAULT 0 CHECK (tokens_trained >= 0),
    tokens_sampled BIGINT      NOT NULL DEFAULT 0 CHECK (tokens_sampled >= 0),
    requests       BIGINT      NOT NULL DEFAULT 0 CHECK (requests >= 0),
    PRIMARY KEY (tenant_id, bucket_start)
);
