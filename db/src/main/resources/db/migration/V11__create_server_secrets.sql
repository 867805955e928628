-- Secrets every api replica shares, e.g. the key that signs checkpoint download links.
CREATE TABLE server_secrets (
    name       TEXT        PRIMARY KEY,
    value      BYTEA       NOT NULL CHECK (length(value) >= 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
