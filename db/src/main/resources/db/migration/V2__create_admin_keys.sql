-- Operator keys for /admin/v1. Same storage rules as tenant keys: hash only, prefix for display.
CREATE TABLE admin_keys (
    id         BIGSERIAL   PRIMARY KEY,
    key_hash   BYTEA       NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_prefix TEXT        NOT NULL UNIQUE,
    label      TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);
