-- What the current SDK tells about a session: a display name (for people, not unique) at
-- creation, and how it ended (ServiceClient.close: the reason type and a detail) when it finishes.
ALTER TABLE sessions
    ADD COLUMN display_name  TEXT CHECK (length(display_name) <= 256),
    ADD COLUMN finished_at   TIMESTAMPTZ,
    ADD COLUMN finish_reason TEXT CHECK (length(finish_reason) <= 64),
    ADD COLUMN finish_detail TEXT CHECK (length(finish_detail) <= 4096);
