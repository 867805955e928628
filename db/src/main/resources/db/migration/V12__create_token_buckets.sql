-- Each tenant's tokens-per-minute budget, shared by every api replica: a token bucket refilled
-- continuously at max_tokens_per_minute / 60 per second (by the database's clock) and taken from
-- in one statement, so concurrent calls on any replica never overspend it.
CREATE TABLE token_buckets (
    tenant_id  TEXT             PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    tokens     DOUBLE PRECISION NOT NULL,
    updated_at TIMESTAMPTZ      NOT NULL
);
