-- Tenants own everything else. Quotas are enforced by the api; NULL means "no limit".
CREATE TABLE tenants (
    id                   TEXT        PRIMARY KEY,
    name                 TEXT        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    status               TEXT        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    max_adapters         INTEGER     CHECK (max_adapters >= 0),
    max_storage_bytes    BIGINT      CHECK (max_storage_bytes >= 0),
    max_tokens_per_minute INTEGER    CHECK (max_tokens_per_minute >= 0),
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    suspended_at         TIMESTAMPTZ
);

-- Tenant API keys ("tml-..."): only a SHA-256 of the key is stored; the prefix is for display.
CREATE TABLE api_keys (
    id           BIGSERIAL   PRIMARY KEY,
    tenant_id    TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_hash     BYTEA       NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_prefix   TEXT        NOT NULL UNIQUE,
    label        TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);
